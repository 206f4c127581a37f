import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { createPowerDriver } from '../../server/power/driver.js';
import { PowerError } from '../../server/power/errors.js';
import type { RedfishAuth } from '../../server/power/redfish.js';
import { memoryBackend, startFakeBmc, type FakeBmc, type FakeBmcOptions } from '../e2e/fake-bmc/redfish.js';
import { machineWith, recordingSink, rejection } from './helpers.js';

const PASSWORD = 'pw-Zq8!never-shown';
const dir = await mkdtemp(join(tmpdir(), 'ks-power-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));

async function fake(t: Test, opts: FakeBmcOptions = {}): Promise<FakeBmc> {
  const bmc = await startFakeBmc({ password: PASSWORD, certDir: await mkdtemp(join(dir, 'cert-')), ...opts });
  t.teardown(() => bmc.close());
  return bmc;
}

type Tls = { verify?: boolean; ca?: string; fingerprint?: string };
type DriverOpts = { tls?: Tls; auth?: RedfishAuth; password?: string; passwordFile?: string; timeoutSeconds?: number; systemId?: string; plainHttp?: boolean };
/** The test's temp directory is its secrets directory: the fake's certificates and password files live there. */
function driverFor(bmc: FakeBmc, opts: DriverOpts = {}) {
  const sink = recordingSink();
  const creds = opts.passwordFile ? { passwordFile: opts.passwordFile } : { password: opts.password ?? PASSWORD };
  const machine = machineWith({
    driver: 'redfish',
    address: bmc.url,
    username: 'admin',
    ...creds,
    tls: { verify: true, ...(opts.tls ?? { fingerprint: bmc.fingerprint }) },
    timeoutSeconds: opts.timeoutSeconds ?? 5,
    systemId: opts.systemId,
    plainHttp: opts.plainHttp,
  });
  return { driver: createPowerDriver(machine, { sink, redfishAuth: opts.auth ?? 'session', secretDirs: [dir] }), sink };
}

t.test('session auth, pinned certificate: PXE once in UEFI, then On from off, then ForceRestart', async (t) => {
  const backend = memoryBackend('Off');
  const bmc = await fake(t, { backend });
  const { driver, sink } = driverFor(bmc);

  t.equal(await driver.status(), 'off');
  await driver.bootOnceToPxe('uefi');
  t.same(bmc.log.at(-1), { kind: 'patch', boot: { BootSourceOverrideTarget: 'Pxe', BootSourceOverrideEnabled: 'Once', BootSourceOverrideMode: 'UEFI' } });
  t.same({ ...bmc.boot }, { target: 'Pxe', enabled: 'Once', mode: 'UEFI' }, 'next boot is PXE, once');

  await driver.cycle();
  t.same(bmc.log.filter((e) => e.kind === 'reset').map((e) => e.resetType), ['On'], 'a system that is off gets On');
  t.same(bmc.boots, [{ kind: 'boot', device: 'Pxe', mode: 'UEFI', override: 'Once' }], 'that boot went to PXE');
  t.equal(backend.state, 'On');
  t.equal(await driver.status(), 'on');

  await driver.cycle();
  t.same(bmc.log.filter((e) => e.kind === 'reset').map((e) => e.resetType), ['On', 'ForceRestart'], 'a system that is on gets ForceRestart');
  t.equal(bmc.boots[1].device, 'Hdd', 'the override was for one boot only');

  const auths = new Set(bmc.requests.filter((r) => r.path !== '/redfish/v1' && !r.path.endsWith('/Sessions')).map((r) => r.auth));
  t.same([...auths], ['session'], 'every resource request used the session token');
  t.equal(bmc.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/Sessions')).length, 5, 'one login per call');
  t.equal(bmc.requests.filter((r) => r.method === 'DELETE').length, 5, 'and one logout per call');
  t.equal(bmc.openSessions, 0, 'no session left behind');
  t.match(sink.events.map((e) => e.message), [/boot override set/, /reset On/, /reset ForceRestart/]);
});

t.test('basic auth with the certificate as CA; legacy BIOS mode; power off', async (t) => {
  const bmc = await fake(t, { backend: memoryBackend('On') });
  const { driver } = driverFor(bmc, { auth: 'basic', tls: { ca: bmc.certFile } });
  await driver.bootOnceToPxe('bios');
  t.equal((bmc.log[0] as { boot: Record<string, string> }).boot.BootSourceOverrideMode, 'Legacy');
  await driver.off();
  t.same(bmc.log.at(-1), { kind: 'reset', resetType: 'ForceOff', before: 'On' });
  t.equal(await driver.status(), 'off');
  await driver.on();
  t.equal(await driver.status(), 'on');
  t.same([...new Set(bmc.requests.filter((r) => r.path !== '/redfish/v1').map((r) => r.auth))], ['basic']);
  t.notOk(bmc.requests.some((r) => r.path.includes('Sessions')), 'basic auth opens no session');
});

t.test('cycle falls back to the reset types the BMC allows', async (t) => {
  const bmc = await fake(t, { backend: memoryBackend('On'), resetTypes: ['On', 'ForceOff', 'PowerCycle'] });
  await driverFor(bmc).driver.cycle();
  t.same(bmc.log.at(-2), { kind: 'reset', resetType: 'PowerCycle', before: 'On' });
});

t.test('TLS: an untrusted or wrongly pinned certificate is refused before credentials are sent', async (t) => {
  const bmc = await fake(t);
  const untrusted = await rejection(driverFor(bmc, { tls: {} }).driver.status());
  t.equal(untrusted.kind, 'tls');
  t.match(untrusted.message, /web-01: Redfish power status at https:\/\/127\.0\.0\.1:\d+: TLS verification failed .*bmc\.tls\.ca.*bmc\.tls\.fingerprint/);

  const wrongPin = 'AB:'.repeat(31) + 'AB';
  const pinned = await rejection(driverFor(bmc, { tls: { fingerprint: wrongPin } }).driver.cycle());
  t.equal(pinned.kind, 'tls');
  t.match(pinned.message, /does not match|not the pinned/);
  t.equal(bmc.requests.length, 0, 'the fake never saw a request');

  const other = await fake(t);
  const otherCa = await rejection(driverFor(bmc, { tls: { ca: other.certFile } }).driver.status());
  t.equal(otherCa.kind, 'tls', 'a CA that did not sign the certificate is refused');

  t.equal(await driverFor(bmc, { tls: { verify: false } }).driver.status(), 'off', 'verify: false accepts it');
});

t.test('a wrong password is a clear auth failure that never shows the password', async (t) => {
  const bmc = await fake(t);
  for (const auth of ['session', 'basic'] as const) {
    const wrong = 'Wr0ng-pass-visible?';
    const err = await rejection(driverFor(bmc, { auth, password: wrong }).driver.cycle());
    t.ok(err instanceof PowerError);
    t.equal(err.kind, 'auth', auth);
    t.match(err.message, /authentication refused \(HTTP 401\) for user "admin": check bmc\.username and bmc\.password/);
    t.notMatch(err.message, wrong);
    t.notMatch(err.message, Buffer.from(`admin:${wrong}`).toString('base64'));
  }
  t.notOk(bmc.log.some((e) => e.kind === 'reset'), 'nothing was reset');
});

t.test('a BMC that refuses every password', async (t) => {
  const bmc = await fake(t, { refuseAuth: true });
  const err = await rejection(driverFor(bmc).driver.bootOnceToPxe('uefi'));
  t.equal(err.kind, 'auth');
  t.notMatch(err.message, PASSWORD);
  t.equal(bmc.boot.enabled, 'Disabled');
});

t.test('a BMC that never answers fails with a timeout, bounded by timeoutSeconds', async (t) => {
  const bmc = await fake(t, { hang: true });
  const started = Date.now();
  const err = await rejection(driverFor(bmc, { timeoutSeconds: 1 }).driver.cycle());
  const took = Date.now() - started;
  t.equal(err.kind, 'timeout');
  t.match(err.message, /web-01: Redfish power cycle at .*: no answer within 1 s/);
  t.ok(took >= 950 && took < 2000, `settled after ${took} ms`);
});

t.test('an address where nothing listens is unreachable', async (t) => {
  const srv = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => srv.once('listening', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  const machine = machineWith({ driver: 'redfish', address: `https://127.0.0.1:${port}`, username: 'admin', password: PASSWORD, timeoutSeconds: 3 });
  const err = await rejection(createPowerDriver(machine, { sink: recordingSink() }).status());
  t.equal(err.kind, 'unreachable');
  t.match(err.message, /cannot reach the BMC \(ECONNREFUSED\)/);
});

t.test('the password is read from passwordFile at each use', async (t) => {
  const bmc = await fake(t);
  const file = join(dir, 'bmc-pass');
  await writeFile(file, 'stale\n');
  const { driver } = driverFor(bmc, { passwordFile: file });
  t.equal((await rejection(driver.status())).kind, 'auth');
  await writeFile(file, `${PASSWORD}\n`);
  t.equal(await driver.status(), 'off', 'the rotated password is used without a new driver');
  const missing = await rejection(driverFor(bmc, { passwordFile: join(dir, 'nope') }).driver.status());
  t.equal(missing.kind, 'config');
  t.match(missing.message, /cannot read bmc\.passwordFile .*nope \(ENOENT\)/);
});

t.test('systemId selects the system; an unknown one is a config error', async (t) => {
  const bmc = await fake(t, { systemId: 'System.Embedded.1' });
  t.equal(await driverFor(bmc, { systemId: 'System.Embedded.1' }).driver.status(), 'off');
  const err = await rejection(driverFor(bmc, { systemId: '2' }).driver.status());
  t.equal(err.kind, 'config');
  t.match(err.message, /bmc\.systemId "2" is not among the BMC's systems \(\/redfish\/v1\/Systems\/System\.Embedded\.1\)/);
});

t.test('a plain http:// address works with bmc.plainHttp (no TLS policy involved)', async (t) => {
  const bmc = await fake(t, { tls: false, backend: memoryBackend('On') });
  t.match(bmc.url, /^http:\/\//);
  const { driver } = driverFor(bmc, { tls: {}, plainHttp: true });
  await driver.cycle();
  t.same(bmc.log.at(-2), { kind: 'reset', resetType: 'ForceRestart', before: 'On' });
});
