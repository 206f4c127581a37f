import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { RenderEnv } from '../../server/render/env.js';
import { renderIgnition, systemdPathUnit } from '../../server/render/ignition.js';
import { RenderError } from '../../server/model/errors.js';
import { ctxFor, examples, machine, profile, TOKEN } from './helpers.js';

const run = promisify(execFile);
const env = new RenderEnv();
const dir = mkdtempSync(join(tmpdir(), 'ks-ign-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

/** Debian's ignition-validate (2.14) is the independent judge; it knows spec 3.0.0–3.3.0. */
async function validate(name: string, json: string): Promise<{ code: number; out: string }> {
  const file = join(dir, name);
  writeFileSync(file, json);
  try {
    const { stdout, stderr } = await run('/usr/bin/ignition-validate', [file]);
    return { code: 0, out: stdout + stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, out: e.stdout + e.stderr };
  }
}

const fcos = (over: Parameters<typeof profile>[0] = {}) =>
  profile({
    os: 'fcos',
    disks: [
      { name: 'sys0', path: '/dev/disk/by-id/virtio-sys0', sizeGiB: 20 },
      { name: 'data0', path: '/dev/disk/by-id/virtio-data0' },
      { name: 'data1', path: '/dev/disk/by-path/pci-0000:00:07.0' },
    ],
    storage: { layout: 'single', disks: ['sys0'], volumes: [{ name: 'root', mount: '/' }] },
    ...over,
  });

t.test('every example Ignition config passes ignition-validate', async (t) => {
  for (const { machine: m, profile: p } of await examples()) {
    if (p.os !== 'fcos') continue;
    const json = renderIgnition(ctxFor(m, p), env);
    const res = await validate(`${m.name}.ign`, json);
    t.equal(res.code, 0, `${m.name}: ${res.out}`);
  }
});

t.test('variants pass too: no extras, two data disks, users with groups and hashes, no converger key', async (t) => {
  const variants = {
    bare: fcos(),
    data: fcos({
      storage: {
        layout: 'single',
        disks: ['sys0'],
        volumes: [{ name: 'root', mount: '/' }],
        data: [
          { disk: 'data0', mount: '/var/lib/containers', fstype: 'xfs' },
          { disk: 'data1', mount: '/var/srv-data', fstype: 'ext4', label: 'srv-data' },
        ],
      },
      rootPasswordHash: '$6$salt$hash',
      users: [{ name: 'ops', groups: ['wheel', 'sudo'], passwordHash: '$y$j9T$abc$def', sshKeys: ['ssh-ed25519 AAAA ops'] }],
    }),
  };
  for (const [name, p] of Object.entries(variants)) {
    const m = machine({ macs: ['52:54:00:00:00:01'] });
    for (const key of [undefined, 'ssh-ed25519 AAAAC3Nz converger']) {
      const json = renderIgnition(ctxFor(m, p, { convergerPublicKey: key }), env);
      const res = await validate(`${name}.ign`, json);
      t.equal(res.code, 0, `${name} (converger key ${key ? 'set' : 'unset'}): ${res.out}`);
    }
  }
});

t.test('the validator is a real judge: a relative file path is refused', async (t) => {
  const json = JSON.parse(renderIgnition(ctxFor(machine(), fcos()), env));
  json.storage.files[0].path = 'etc/hostname';
  t.not((await validate('broken.ign', JSON.stringify(json))).code, 0);
});

t.test('content: token in the first-boot report, hostname, mount unit, converger key for root', async (t) => {
  const p = fcos({
    storage: { layout: 'single', disks: ['sys0'], volumes: [{ name: 'root', mount: '/' }], data: [{ disk: 'data0', mount: '/var/srv-x', fstype: 'xfs', label: 'srv' }] },
  });
  const cfg = JSON.parse(renderIgnition(ctxFor(machine(), p), env));
  t.equal(cfg.ignition.version, '3.3.0');
  const files = Object.fromEntries(cfg.storage.files.map((f: { path: string; contents: { source: string } }) => [f.path, decodeURIComponent(f.contents.source.replace(/^data:,/, ''))]));
  t.equal(files['/etc/hostname'], 'm1\n');
  const report = files['/usr/local/bin/kickstand-report'];
  t.match(report, `/boot/callback/built?token=${TOKEN}`);
  t.match(report, `/boot/callback/hostkeys?token=${TOKEN}`);
  t.equal(cfg.storage.files.find((f: { path: string }) => f.path === '/usr/local/bin/kickstand-report').mode, 0o700, 'the token file is root-only');
  const units = cfg.systemd.units.map((u: { name: string }) => u.name);
  t.ok(units.includes('kickstand-report.service'));
  t.ok(units.includes('var-srv\\x2dx.mount'), 'mount unit named by systemd path escaping');
  t.same(cfg.passwd.users[0], { name: 'root', sshAuthorizedKeys: [ctxFor(machine(), p).convergerPublicKey] });
  t.same(cfg.storage.filesystems[0], { device: '/dev/disk/by-partlabel/srv', format: 'xfs', label: 'srv', path: '/var/srv-x', wipeFilesystem: true });
});

t.test('spec 3.4.0 is selectable', async (t) => {
  const cfg = JSON.parse(renderIgnition(ctxFor(machine(), fcos({ ignition: { version: '3.4.0', files: [], units: [] } })), env));
  t.equal(cfg.ignition.version, '3.4.0');
});

t.test('a kickstart profile is refused', async (t) => {
  t.throws(() => renderIgnition(ctxFor(machine(), profile()), env), RenderError);
});

t.test('systemd path escaping matches systemd-escape --path', async (t) => {
  const paths = ['/var/srv', '/var/lib/my-data/', '/var/.hidden', '/.x', '/var/a b', '/var/ü', '/'];
  const { stdout } = await run('systemd-escape', ['--path', '--suffix=mount', ...paths]);
  t.same(paths.map((p) => systemdPathUnit(p, 'mount')), stdout.trim().split(/\s+/));
});
