/**
 * /boot/assets and /boot/firmware against hostile paths, with curl --path-as-is: nothing outside
 * the served directory is ever sent (traversal in any encoding, symlinks out of the root), a bad
 * name is a 400, a missing or refused file a 404, and no request is a 500. Symlinks follow the
 * TFTP rule: into the root, or (firmware only) into tftp.symlinkDirs. And whatever way a request
 * ends, the file it opened is closed: one descriptor left behind per request would use up the
 * process's limit within a boot storm.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t, { type Test } from 'tap';
import { AssetError, verifyAssets } from '../../server/http/boot-assets.js';
import { startTestService } from '../helpers/service.js';

const run = promisify(execFile);
const SECRET = 'ks-secret-outside-the-root';

function layout(t: Test) {
  const base = mkdtempSync(join(tmpdir(), 'ks-boot-files-'));
  t.teardown(() => rmSync(base, { recursive: true, force: true }));
  const assets = join(base, 'assets');
  const firmware = join(base, 'ipxe');
  const allowed = join(base, 'boot'); // firmware's symlinkDir, like Debian's /boot
  for (const d of [join(assets, 'rocky-9'), firmware, allowed]) mkdirSync(d, { recursive: true });
  writeFileSync(join(base, 'secret'), SECRET);
  writeFileSync(join(assets, 'rocky-9', 'vmlinuz'), 'kernel-bytes-0123456789');
  writeFileSync(join(assets, '%'), 'a file named percent');
  writeFileSync(join(allowed, 'ipxe.efi'), 'efi-binary');
  symlinkSync(join(assets, 'rocky-9', 'vmlinuz'), join(assets, 'current'));
  symlinkSync('/etc/passwd', join(assets, 'passwd'));
  symlinkSync('/etc', join(assets, 'etc'));
  symlinkSync(join(base, 'secret'), join(assets, 'secret'));
  symlinkSync(join(allowed, 'ipxe.efi'), join(assets, 'from-boot')); // allowed for firmware, not for assets
  symlinkSync(join(allowed, 'ipxe.efi'), join(firmware, 'ipxe.efi'));
  symlinkSync('/etc/passwd', join(firmware, 'passwd'));
  symlinkSync(base, join(firmware, 'up'));
  return { base, assets, firmware, allowed };
}

t.test('hostile paths: 400 or 404, never a byte from outside, never a 500', async (t) => {
  const dirs = layout(t);
  const env = await startTestService(t, {
    config: { assets: { dir: dirs.assets, files: {} }, tftp: { enabled: false, root: dirs.firmware, symlinkDirs: [dirs.allowed] } },
  });
  const curl = async (path: string, extra: string[] = []) => {
    const { stdout } = await run('curl', ['-sS', '--path-as-is', ...extra, '-w', '\n%{http_code}', `${env.base}${path}`]);
    const nl = stdout.lastIndexOf('\n');
    return { status: Number(stdout.slice(nl + 1)), body: stdout.slice(0, nl) };
  };

  const served: Array<[string, string]> = [
    ['/boot/assets/rocky-9/vmlinuz', 'kernel-bytes-0123456789'],
    ['/boot/assets/current', 'kernel-bytes-0123456789'], // symlink inside the root
    ['/boot/assets/rocky-9%2fvmlinuz', 'kernel-bytes-0123456789'], // %2f decoded once: the same file
    ['/boot/assets/%25', 'a file named percent'], // %25 decoded once is "%"
    ['/boot/firmware/ipxe.efi', 'efi-binary'], // symlink into tftp.symlinkDirs
  ];
  for (const [path, body] of served) t.same(await curl(path), { status: 200, body }, `${path} served`);
  t.same(await curl('/boot/assets/rocky-9/vmlinuz', ['-r', '7-11']), { status: 206, body: 'bytes' }, 'Range still works');

  const refused: Array<[string, number]> = [
    ['/boot/assets/passwd', 404], // symlink to /etc/passwd
    ['/boot/assets/etc/passwd', 404], // through a symlinked directory
    ['/boot/assets/secret', 404], // symlink to a file next to the root
    ['/boot/assets/from-boot', 404], // tftp.symlinkDirs are firmware's, not the assets'
    ['/boot/firmware/passwd', 404],
    ['/boot/firmware/up/secret', 404],
    ['/boot/firmware/up/assets/passwd', 404],
    ['/boot/assets/../../etc/passwd', 400],
    ['/boot/assets/rocky-9/../../secret', 400],
    ['/boot/assets/%2e%2e/%2e%2e/etc/passwd', 400],
    ['/boot/assets/%2E%2E%2Fsecret', 400],
    ['/boot/assets/rocky-9/..%2f..%2fsecret', 400],
    ['/boot/firmware/..%5c..%5csecret', 400],
    ['/boot/firmware/..\\..\\secret', 400],
    ['/boot/assets/%252e%252e%252fsecret', 400], // double encoding is refused, not decoded twice
    ['/boot/assets/%2541', 400],
    ['/boot/assets/%00', 400],
    ['/boot/assets/vmlinuz%00.png', 400],
    ['/boot/assets/rocky-9/vmlinuz%0a', 400],
    ['/boot/assets/%25%25', 404],
    ['/boot/assets/%', 400], // malformed escape: the router's own 400
    ['/boot/assets/' + 'a'.repeat(300), 404], // longer than a file name may be
    ['/boot/assets/' + 'a/'.repeat(300), 400], // longer than a boot file path may be
    ['/boot/assets/', 400],
    ['/boot/assets/rocky-9', 404], // a directory
    ['/boot/assets/nope', 404],
  ];
  for (const [path, status] of refused) {
    const r = await curl(path);
    t.equal(r.status, status, `${path} → ${status}`);
    t.notMatch(r.body, /root:|ks-secret|efi-binary/, `${path}: nothing from outside`);
  }
  const head = await run('curl', ['-sS', '--path-as-is', '-I', '-o', '/dev/null', '-w', '%{http_code}', `${env.base}/boot/assets/passwd`]);
  t.equal(head.stdout, '404', 'HEAD of an escaping symlink: 404');

  await env.svc.lifecycle.idle();
  const events = await env.svc.reads.events({ limit: 10000 });
  t.ok(
    events.some((e) => e.level === 'warn' && /assets "passwd" refused: resolves outside the served directory/.test(e.message)),
    'an escaping symlink is reported as a warning event',
  );
  t.notOk(env.logs.lines.some((l) => /"statusCode":500|request failed/.test(l)), 'no 500 in the log');
});

/** This process's descriptors open on files under `dir`. */
function openUnder(dir: string): string[] {
  return readdirSync('/proc/self/fd').flatMap((fd) => {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      return target.startsWith(dir) ? [target] : [];
    } catch {
      return []; // closed since the listing
    }
  });
}

t.test('every way a file request ends closes the file', async (t) => {
  const dirs = layout(t);
  // Large enough that a client gone after the headers leaves most of it unsent (sparse: no disk).
  const big = join(dirs.assets, 'big.img');
  writeFileSync(big, '');
  truncateSync(big, 64 << 20);
  mkdirSync(join(dirs.assets, 'a-dir'));
  const env = await startTestService(t, {
    config: { assets: { dir: dirs.assets, files: {} }, tftp: { enabled: false, root: dirs.firmware, symlinkDirs: [dirs.allowed] } },
  });
  const status = async (path: string, init: RequestInit = {}) => {
    const res = await fetch(`${env.base}${path}`, init);
    await res.arrayBuffer();
    return res.status;
  };
  t.equal(await status('/boot/assets/rocky-9/vmlinuz'), 200, 'a whole file');
  t.equal(await status('/boot/assets/rocky-9/vmlinuz', { method: 'HEAD' }), 200, 'a HEAD');
  t.equal(await status('/boot/assets/rocky-9/vmlinuz', { headers: { range: 'bytes=2-5' } }), 206, 'a range');
  t.equal(await status('/boot/assets/rocky-9/vmlinuz', { headers: { range: 'bytes=99-' } }), 416, 'a range past the end');
  t.equal(await status('/boot/assets/rocky-9/vmlinuz', { headers: { range: 'lines=1-2' } }), 416, 'a range in another unit');
  t.equal(await status('/boot/assets/a-dir'), 404, 'a directory (opened, then refused)');
  t.equal(await status('/boot/firmware/ipxe.efi'), 200, 'firmware through an allowed symlink');
  // A client that reads the headers of a 64 MiB file and goes away.
  await new Promise<void>((resolve, reject) => {
    const socket = net.connect(Number(new URL(env.base).port), '127.0.0.1', () => socket.write('GET /boot/assets/big.img HTTP/1.1\r\nHost: x\r\n\r\n'));
    socket.once('data', (chunk) => {
      t.match(chunk.toString('latin1'), /^HTTP\/1\.1 200/, 'the big file started');
      socket.destroy();
      resolve();
    });
    socket.once('error', reject);
  });
  let left = openUnder(dirs.base);
  for (let i = 0; i < 250 && left.length; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    left = openUnder(dirs.base);
  }
  t.same(left, [], 'no descriptor is left open on a served file');
});

t.test('start-up check: an asset that resolves outside assets.dir is refused by name', async (t) => {
  const dirs = layout(t);
  const sha = 'a'.repeat(64);
  const err = await verifyAssets({ dir: dirs.assets, files: { leak: { path: 'passwd', sha256: sha } } }).catch((e: unknown) => e);
  t.ok(err instanceof AssetError, 'refused with an AssetError');
  await t.rejects(verifyAssets({ dir: dirs.assets, files: { leak: { path: 'passwd', sha256: sha } } }), /assets\.files\.leak: path passwd resolves outside/);
  await t.rejects(verifyAssets({ dir: dirs.assets, files: { up: { path: '../secret', sha256: sha } } }), /assets\.files\.up: path \.\.\/secret leaves/);
  await t.rejects(verifyAssets({ dir: dirs.assets, files: { gone: { path: 'rocky-9/initrd.img', sha256: sha } } }), /assets\.files\.gone: .*initrd\.img is missing/);
  const kernel = 'bdc4a2a1d1d1d3e4e8b3fd3c5cd0db8bfcb5c1b8e0d4f3e4a6c7b8f0e1d2c3b4';
  await t.rejects(verifyAssets({ dir: dirs.assets, files: { k: { path: 'current', sha256: kernel } } }), /assets\.files\.k: .*vmlinuz has sha256 [0-9a-f]{64}, config says/);
});
