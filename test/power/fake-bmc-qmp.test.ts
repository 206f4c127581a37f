/**
 * The fake BMC's QMP backend against a real QEMU (what the e2e harness uses): the Redfish
 * driver's power actions must reach the VM.
 */
import { spawn } from 'node:child_process';
import { access, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { createPowerDriver } from '../../server/power/driver.js';
import { qmp, qmpBackend } from '../e2e/fake-bmc/qmp.js';
import { startFakeBmc } from '../e2e/fake-bmc/redfish.js';
import { machineWith, recordingSink } from './helpers.js';

const dir = await mkdtemp(join(tmpdir(), 'ks-qmp-'));
const socket = join(dir, 'qmp.sock');
// -S: the VM starts stopped, i.e. "off"; no disk and no NIC, so it stays quiet once running.
const vm = spawn('qemu-system-x86_64', ['-accel', 'tcg', '-m', '64', '-nodefaults', '-display', 'none', '-S', '-no-shutdown', '-qmp', `unix:${socket},server=on,wait=off`], { stdio: 'ignore' });
t.teardown(async () => {
  vm.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});
for (let i = 0; await access(socket).then(() => false, () => true); i++) {
  if (i > 100) throw new Error('QEMU did not open its QMP socket');
  await new Promise((r) => setTimeout(r, 50));
}

const running = async () => ((await qmp(socket, [{ execute: 'query-status' }]))[0] as { running: boolean }).running;

t.test('Redfish driver → fake BMC → QMP → QEMU', async (t) => {
  const bmc = await startFakeBmc({ backend: qmpBackend(socket), password: 'vm-pass', certDir: dir });
  t.teardown(() => bmc.close());
  const driver = createPowerDriver(
    machineWith({ driver: 'redfish', address: bmc.url, username: 'admin', password: 'vm-pass', tls: { verify: true, fingerprint: bmc.fingerprint }, timeoutSeconds: 10 }),
    { sink: recordingSink() },
  );
  t.equal(await running(), false);
  t.equal(await driver.status(), 'off');
  await driver.bootOnceToPxe('bios');
  await driver.cycle();
  t.equal(await running(), true, 'On = system_reset + cont: the VM runs');
  t.equal(await driver.status(), 'on');
  t.same(bmc.boots, [{ kind: 'boot', device: 'Pxe', mode: 'Legacy', override: 'Once' }]);
  await driver.cycle();
  t.equal(await running(), true, 'ForceRestart = system_reset: still running');
  t.same(bmc.log.filter((e) => e.kind === 'reset').map((e) => e.resetType), ['On', 'ForceRestart']);
  await driver.off();
  t.equal(await running(), false, 'ForceOff = stop');
  t.equal(await driver.status(), 'off');
});
