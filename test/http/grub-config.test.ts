/**
 * Issue 18: GRUB's lookup through the whole service, over TFTP (real curl) and HTTP: the per-MAC
 * configuration by state with the install token only for the address bound to the install, the
 * shared grub.cfg, shim as a pinned asset over TFTP, hostile names refused, tokens in no log line.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { minimalProfile } from '../helpers/fixtures.js';
import { startTestService } from '../helpers/service.js';

const run = promisify(execFile);
const MAC = '52:54:00:18:0c:01';
const DASHED = MAC.replace(/:/g, '-');
const SHIM = Buffer.alloc(70_000, 0x5a);

async function attempt(cmd: string, args: string[]) {
  try {
    return { code: 0, ...(await run(cmd, args)) };
  } catch (err) {
    const e = err as { code?: number; stdout?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '' };
  }
}

t.test('grub.cfg-01-<mac> over TFTP and HTTP by state, tokens bound, shim pinned', async (t) => {
  const assets = await mkdtemp(join(tmpdir(), 'ks-grub-assets-'));
  t.teardown(() => rm(assets, { recursive: true, force: true }));
  await mkdir(join(assets, 'efi'));
  await writeFile(join(assets, 'efi', 'shimx64.efi'), SHIM);
  // A fixed port: the service does not tell its TFTP port; a collision fails the start loudly.
  const tftpPort = 20000 + (process.pid % 20000);
  const env = await startTestService(t, {
    config: {
      tftp: { enabled: true, host: '127.0.0.1', port: tftpPort },
      assets: { dir: assets, files: { shim: { path: 'efi/shimx64.efi', sha256: createHash('sha256').update(SHIM).digest('hex') } } },
    },
    service: { renderers: undefined },
  });
  t.equal((await env.api('POST', '/api/v1/profiles', { ...minimalProfile('sb', 'uefi'), secureBoot: true })).status, 201);
  t.equal((await env.api('POST', '/api/v1/machines', { name: 'sb-1', profile: 'sb', macs: [MAC] })).status, 201);
  const tftp = (file: string) => attempt('curl', ['-sS', `tftp://127.0.0.1:${tftpPort}/${file}`]);
  const http = async (from: string, path: string) => {
    const { stdout } = await run('curl', ['-sS', '--interface', from, '-o', '-', '-w', '\n%{http_code}', `${env.base}/boot${path}`]);
    const i = stdout.lastIndexOf('\n');
    return { status: Number(stdout.slice(i + 1)), body: stdout.slice(0, i) };
  };

  const shim = await run('curl', ['-sS', '-o', '-', `tftp://127.0.0.1:${tftpPort}/efi/shimx64.efi`], { encoding: 'buffer' });
  t.ok(Buffer.from(shim.stdout).equals(SHIM), 'shim over TFTP from the assets directory');

  const lookup = await tftp('grub/grub.cfg');
  t.match(lookup.stdout, 'configfile "$prefix/grub.cfg-01-$m1-$m2-$m3-$m4-$m5-$m6"', 'grub.cfg sends GRUB to its per-MAC file');
  t.equal((await http('127.0.0.1', '/grub/grub.cfg')).body, lookup.stdout, 'the same over HTTP');

  const before = await tftp(`grub/grub.cfg-01-${DASHED}`);
  t.match(before.stdout, /boots from its local disk[\s\S]*\nexit 1\n$/, 'registered, not installing: the local configuration');

  t.equal((await env.api('POST', '/api/v1/machines/sb-1/reinstall?force=true')).status, 202);
  await env.svc.lifecycle.idle();
  const install = await tftp(`grub/grub.cfg-01-${DASHED.toUpperCase()}`);
  const token = /token=([A-Za-z0-9_-]+)/.exec(install.stdout)?.[1];
  t.ok(token, 'the install configuration carries the token (upper-case hex in the name too)');
  t.match(install.stdout, "if linux '(tftp,127.0.0.1)/rocky-9/vmlinuz'");
  t.match(install.stdout, `'inst.ks=${env.base}/boot/kickstart?token=${token}'`);
  t.match(install.stdout, 'Secure Boot', 'the header names the boot path');

  const other = await http('127.0.0.2', `/grub/grub.cfg-01-${DASHED}`);
  t.equal(other.status, 200);
  t.notMatch(other.body, /token=/, 'another address gets no token');
  t.match(other.body, /\nexit 1\n$/, 'but the local configuration');
  const again = await http('127.0.0.1', `/grub/grub.cfg-01-${DASHED}`);
  t.match(again.body, `token=${token}`, 'the bound address gets it over HTTP too');

  for (const bad of ['grub.cfg-01-52-54-00-18-0c', 'grub.cfg-01-52-54-00-18-0c-01-01', 'grub.cfg-01-..-54-00-18-0c-01', 'grub.cfg-C0A80001', '..%2f..%2fetc%2fpasswd'])
    t.equal((await http('127.0.0.1', `/grub/${bad}`)).status, 404, `HTTP ${bad}: 404`);
  for (const bad of [`grub/grub.cfg-01-${DASHED}-00`, 'grub/../../etc/passwd', 'efi/../../etc/passwd'])
    t.not((await attempt('curl', ['-sS', '--path-as-is', `tftp://127.0.0.1:${tftpPort}/${bad}`])).code, 0, `TFTP ${bad}: refused`);

  const unknown = await tftp('grub/grub.cfg-01-52-54-00-99-99-99');
  t.match(unknown.stdout, /no machine is registered with MAC 52:54:00:99:99:99[\s\S]*exit 1\n$/);

  await env.svc.events.flush?.();
  const events = await env.svc.reads.events({ limit: 1000 });
  t.ok(events.some((e) => e.message === 'GRUB configuration: install' && e.machine === 'sb-1' && e.ip === '127.0.0.1'), 'the install configuration is an event of the machine');
  t.ok(events.some((e) => /install token withheld from 127\.0\.0\.2/.test(e.message)), 'the withheld token too');
  t.notOk(env.logs.lines.some((l) => l.includes(token!)), 'the token is in no log line');
  t.notOk(events.some((e) => JSON.stringify(e).includes(token!)), 'nor in any event');
});
