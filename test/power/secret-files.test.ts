import { execFileSync } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, rm, symlink, writeFile, access } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { Machine, type MachineInput } from '../../server/model/machine.js';
import { createPowerDriver } from '../../server/power/driver.js';
import { PowerError } from '../../server/power/errors.js';
import { memoryBackend, startFakeBmc, type FakeBmc, type FakeBmcOptions } from '../e2e/fake-bmc/redfish.js';
import { minimalProfile } from '../helpers/fixtures.js';
import { startTestService } from '../helpers/service.js';
import { recordingSink, rejection } from './helpers.js';

/**
 * Finding 4: an API-token holder pointed a machine at a BMC of their own with bmc.passwordFile set
 * to kickstand's SSH key, and kickstand sent the key as the password. BMC files must lie inside
 * the secrets directories, checked on the real path at each use, and http:// needs bmc.plainHttp.
 */
const PASSWORD = 'pw-Zq8!never-shown';
/** What sits outside the secrets directory: kickstand's own key, say. Its content is the fake's password, so a driver that reads it would succeed. */
const OUTSIDE_CONTENT = PASSWORD;

const root = await mkdtemp(join(tmpdir(), 'ks-secrets-'));
t.teardown(() => rm(root, { recursive: true, force: true }));
const secrets = join(root, 'secrets');
const outside = join(root, 'outside');
await mkdir(secrets);
await mkdir(outside);
const outsideKey = join(outside, 'id_ed25519');
await writeFile(outsideKey, `${OUTSIDE_CONTENT}\n`);
await writeFile(join(secrets, 'bmc-pass'), `${PASSWORD}\n`);
await symlink(outsideKey, join(secrets, 'link-out'));
await symlink(join(secrets, 'bmc-pass'), join(secrets, 'link-in'));
await symlink(outside, join(secrets, 'dir-out'));

async function fake(t: Test, opts: FakeBmcOptions = {}): Promise<FakeBmc> {
  const bmc = await startFakeBmc({ password: PASSWORD, certDir: await mkdtemp(join(root, 'cert-')), ...opts });
  t.teardown(() => bmc.close());
  return bmc;
}

/** A machine as it may sit in the store (written before the schema refused its fields): not parsed again. */
function stored(base: MachineInput['bmc'], bmcOver: Record<string, unknown>): Machine {
  const m = Machine.parse({ name: 'web-01', macs: ['52:54:00:12:34:56'], profile: 'test', bmc: base });
  return { ...m, bmc: { ...m.bmc, ...bmcOver } } as Machine;
}

function redfish(bmc: FakeBmc, over: Record<string, unknown>) {
  const machine = stored({ driver: 'redfish', address: bmc.url, username: 'admin', password: 'placeholder', tls: { verify: true, fingerprint: bmc.fingerprint }, timeoutSeconds: 5 }, {
    password: undefined,
    ...over,
  });
  return createPowerDriver(machine, { sink: recordingSink(), secretDirs: [secrets] });
}

const escapes: Array<[string, string]> = [
  ['an absolute path elsewhere', outsideKey],
  ['a path with .. out of the directory', `${secrets}/../outside/id_ed25519`],
  ['a symlink inside the directory that points out', join(secrets, 'link-out')],
  ['a path through a symlinked directory that points out', join(secrets, 'dir-out', 'id_ed25519')],
  ['a relative path', 'outside/id_ed25519'],
];

for (const [name, passwordFile] of escapes)
  t.test(`passwordFile: ${name} is refused at use, and the BMC hears nothing`, async (t) => {
    const bmc = await fake(t);
    const err = await rejection(redfish(bmc, { passwordFile }).cycle());
    t.ok(err instanceof PowerError, 'a PowerError');
    t.equal(err.kind, 'config');
    t.match(err.message, /bmc\.passwordFile .*(outside the secrets directories|leads out of the secrets directories|not an absolute path)/);
    t.match(err.message, /secrets\.dirs/, 'says which setting decides');
    t.notMatch(err.message, OUTSIDE_CONTENT, 'the contents never appear');
    t.same(bmc.requests, [], 'not one request reached the BMC, so no credentials either');
    t.equal(bmc.openSessions, 0);
    // the same BMC takes a password file inside the directory, directly or through a symlink that stays inside
    t.equal(await redfish(bmc, { passwordFile: join(secrets, 'bmc-pass') }).status(), 'off');
    t.equal(await redfish(bmc, { passwordFile: join(secrets, 'link-in') }).status(), 'off');
  });

t.test('tls.ca outside the secrets directory is refused before connecting', async (t) => {
  const bmc = await fake(t);
  const ca = join(outside, 'ca.crt');
  await copyFile(bmc.certFile!, ca);
  const err = await rejection(redfish(bmc, { passwordFile: join(secrets, 'bmc-pass'), tls: { verify: true, ca } }).status());
  t.equal(err.kind, 'config');
  t.match(err.message, /bmc\.tls\.ca .*outside the secrets directories/);
  t.same(bmc.requests, []);
  const inside = join(secrets, 'ca.crt');
  await copyFile(bmc.certFile!, inside);
  t.equal(await redfish(bmc, { passwordFile: join(secrets, 'bmc-pass'), tls: { verify: true, ca: inside } }).status(), 'off', 'the same CA inside is used');
});

t.test('a FIFO or a directory in the secrets directory is refused, not waited on', async (t) => {
  const bmc = await fake(t);
  const fifo = join(secrets, 'fifo');
  execFileSync('mkfifo', [fifo]);
  for (const passwordFile of [fifo, join(secrets, '.')]) {
    const err = await rejection(redfish(bmc, { passwordFile }).status());
    t.equal(err.kind, 'config');
    t.match(err.message, /bmc\.passwordFile .*(not a regular file|outside)/);
  }
  t.same(bmc.requests, []);
});

t.test('ipmi: a passwordFile outside never reaches ipmitool', async (t) => {
  const seen = join(root, 'ipmitool-saw-password');
  const tool = join(root, 'ipmitool');
  await writeFile(tool, `#!/bin/sh\nprintf '%s' "$IPMI_PASSWORD" > '${seen}'\necho 'Chassis Power is off'\n`);
  await chmod(tool, 0o755);
  const machine = (passwordFile: string) =>
    stored({ driver: 'ipmi', address: '127.0.0.1:623', username: 'admin', password: 'placeholder', timeoutSeconds: 5 }, { password: undefined, passwordFile });
  const err = await rejection(createPowerDriver(machine(outsideKey), { sink: recordingSink(), ipmitool: tool, secretDirs: [secrets] }).status());
  t.equal(err.kind, 'config');
  t.match(err.message, /bmc\.passwordFile .*outside the secrets directories/);
  await t.rejects(access(seen), 'ipmitool never ran');
  t.equal(await createPowerDriver(machine(join(secrets, 'bmc-pass')), { sink: recordingSink(), ipmitool: tool, secretDirs: [secrets] }).status(), 'off');
  await t.resolves(access(seen), 'the recorder works: with a file inside, ipmitool got the password');
});

t.test('the schema refuses a passwordFile or tls.ca that is relative or climbs with ..', async (t) => {
  const base = { driver: 'redfish', address: 'https://10.0.0.21', username: 'admin' } as const;
  for (const [bmc, path] of [
    [{ ...base, passwordFile: 'var/secrets/bmc' }, 'bmc.passwordFile'],
    [{ ...base, passwordFile: '/etc/kickstand/../../root/.ssh/id_ed25519' }, 'bmc.passwordFile'],
    [{ ...base, passwordFile: '/etc/kickstand/bmc\n' }, 'bmc.passwordFile'],
    [{ ...base, password: 'x', tls: { ca: '/etc/kickstand/../ssl/private/key.pem' } }, 'bmc.tls.ca'],
  ] as const) {
    const r = Machine.safeParse({ name: 'web-01', macs: ['52:54:00:12:34:56'], profile: 'p1', bmc });
    t.notOk(r.success, JSON.stringify(bmc));
    t.ok(r.error?.issues.some((i) => i.path.join('.') === path), `${path} named`);
  }
  t.ok(Machine.safeParse({ name: 'web-01', macs: ['52:54:00:12:34:56'], profile: 'p1', bmc: { ...base, passwordFile: '/etc/kickstand/bmc/web-01' } }).success);
});

t.test('http:// needs bmc.plainHttp: refused by the schema, and by the driver for a stored machine', async (t) => {
  const input = (plainHttp?: boolean) => ({
    name: 'web-01',
    macs: ['52:54:00:12:34:56'],
    profile: 'p1',
    bmc: { driver: 'redfish', address: 'http://10.0.0.21', username: 'admin', password: 'pw', ...(plainHttp === undefined ? {} : { plainHttp }) },
  });
  for (const plain of [undefined, false]) {
    const r = Machine.safeParse(input(plain));
    t.notOk(r.success, `plainHttp ${plain}`);
    const issue = r.error?.issues.find((i) => i.path.join('.') === 'bmc.address');
    t.match(issue?.message, /set bmc\.plainHttp: true/);
  }
  t.ok(Machine.safeParse(input(true)).success, 'allowed with plainHttp: true');

  const bmc = await fake(t, { tls: false, backend: memoryBackend('On') });
  const m = stored({ driver: 'redfish', address: 'https://127.0.0.1', username: 'admin', password: PASSWORD, timeoutSeconds: 5 }, { address: bmc.url });
  const err = t.throws(() => createPowerDriver(m, { sink: recordingSink(), secretDirs: [secrets] })) as PowerError;
  t.equal(err.kind, 'config');
  t.match(err.message, /bmc\.address: http:\/\/ sends the BMC credentials unencrypted.*bmc\.plainHttp/);
  t.same(bmc.requests, [], 'no request, so no password in clear text');
  t.equal(await createPowerDriver({ ...m, bmc: { ...m.bmc, plainHttp: true } }, { sink: recordingSink(), secretDirs: [secrets] }).status(), 'on');
});

t.test('the API refuses http:// without plainHttp and a passwordFile with .., naming the field', async (t) => {
  const { api } = await startTestService(t);
  t.equal((await api('POST', '/api/v1/profiles', minimalProfile('p1'))).status, 201);
  const machine = (bmc: Record<string, unknown>) => ({ name: 'web-01', profile: 'p1', macs: ['52:54:00:12:34:56'], bmc });
  const http = { driver: 'redfish', address: 'http://10.0.0.21', username: 'admin', password: 'pw' };

  const refused = await api('POST', '/api/v1/machines', machine(http));
  t.equal(refused.status, 400);
  t.same(refused.json.issues.map((i: { path: string }) => i.path), ['bmc.address']);
  t.match(refused.json.issues[0].message, /bmc\.plainHttp/);
  t.notMatch(refused.text, '"pw"', 'the password is not echoed');

  const climbing = await api('POST', '/api/v1/machines', machine({ ...http, address: 'https://10.0.0.21', password: undefined, passwordFile: '/etc/kickstand/../../root/.ssh/id_ed25519' }));
  t.equal(climbing.status, 400);
  t.same(climbing.json.issues.map((i: { path: string }) => i.path), ['bmc.passwordFile']);

  const accepted = await api('POST', '/api/v1/machines', machine({ ...http, plainHttp: true }));
  t.equal(accepted.status, 201);
  t.equal((await api('GET', '/api/v1/machines/web-01')).json.bmc.plainHttp, true);
});
