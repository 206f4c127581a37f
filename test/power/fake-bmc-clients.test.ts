/**
 * The fake Redfish BMC checked with clients nobody on this project wrote: Debian's redfishtool
 * (DMTF) and python3-sushy (OpenStack Ironic's library). If they can drive it, the fake speaks
 * Redfish as real clients expect it, and the driver tests against it mean something.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';
import { memoryBackend, startFakeBmc } from '../e2e/fake-bmc/redfish.js';

const run = promisify(execFile);
const PASSWORD = 'fake-Pw-4tools';
const dir = await mkdtemp(join(tmpdir(), 'ks-rfclients-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));

const backend = memoryBackend('Off');
const bmc = await startFakeBmc({ backend, password: PASSWORD, certDir: dir });
t.teardown(() => bmc.close());

const redfishtool = async (auth: 'Basic' | 'Session', password: string, ...args: string[]) =>
  run('redfishtool', ['-r', `127.0.0.1:${bmc.port}`, '-u', 'admin', '-p', password, '-S', 'Always', '-A', auth, '-T', '5', ...args], { timeout: 20_000 });

t.test('redfishtool reads the system, sets the override, resets', async (t) => {
  const system = JSON.parse((await redfishtool('Basic', PASSWORD, 'Systems', '-1', 'get')).stdout);
  t.equal(system.PowerState, 'Off');
  t.equal(system.Actions['#ComputerSystem.Reset'].target, '/redfish/v1/Systems/1/Actions/ComputerSystem.Reset');

  await redfishtool('Session', PASSWORD, 'Systems', '-1', 'setBootOverride', 'Once', 'Pxe');
  t.same({ ...bmc.boot }, { target: 'Pxe', enabled: 'Once', mode: 'UEFI' });
  await redfishtool('Session', PASSWORD, 'Systems', '-1', 'reset', 'On');
  t.equal(backend.state, 'On');
  t.same(bmc.boots.at(-1), { kind: 'boot', device: 'Pxe', mode: 'UEFI', override: 'Once' });
  t.ok(bmc.requests.some((r) => r.auth === 'session'), 'redfishtool logged in with a session');

  const err = await redfishtool('Session', 'wrong', 'Systems', '-1', 'get').catch((e) => e);
  t.not(err.code, 0, 'a wrong password fails redfishtool');
  t.match(err.stderr, /401|Login Failed/);
});

t.test('sushy logs in with a session, verifies the certificate, and drives boot and power', async (t) => {
  await redfishtool('Basic', PASSWORD, 'Systems', '-1', 'reset', 'ForceOff');
  const script = fileURLToPath(new URL('./fixtures/sushy_client.py', import.meta.url));
  // Debian's requests lets REQUESTS_CA_BUNDLE override the verify= argument: point both at our cert.
  const env = { ...process.env, REQUESTS_CA_BUNDLE: bmc.certFile! };
  const before = bmc.requests.length;
  const { stdout } = await run('/usr/bin/python3', [script, bmc.url, 'admin', PASSWORD, bmc.certFile!], { env, timeout: 30_000 });
  const out = JSON.parse(stdout);
  t.same(out, {
    identity: '1',
    power_before: 'Off',
    allowed_resets: ['ForceOff', 'ForceOn', 'ForceRestart', 'GracefulRestart', 'GracefulShutdown', 'On', 'PowerCycle'],
    boot: ['Pxe', 'Once', 'UEFI'],
    power_after: 'On',
  });
  const mine = bmc.requests.slice(before);
  t.ok(mine.some((r) => r.method === 'POST' && r.path.endsWith('/Sessions') && r.status === 201), 'sushy created a session');
  t.ok(mine.some((r) => r.method === 'DELETE' && r.status === 204), 'and deleted it');
  t.equal(bmc.openSessions, 0);
  t.same(bmc.log.at(-1), { kind: 'boot', device: 'Pxe', mode: 'UEFI', override: 'Once' });

  const refused = JSON.parse((await run('/usr/bin/python3', [script, bmc.url, 'admin', 'wrong', bmc.certFile!], { env, timeout: 30_000 })).stdout);
  t.same(refused, { error: 'AccessError' }, 'a wrong password is an access error for sushy');
});
