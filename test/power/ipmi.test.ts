/**
 * The IPMI driver against ipmi_sim (OpenIPMI's BMC simulator) on its own loopback port, with a
 * chassis_control hook that records power state and boot device in files.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { chmod, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { createPowerDriver } from '../../server/power/driver.js';
import { IPMI, ipmiFailure, ipmiTarget, ipmitoolArgs, parsePowerStatus } from '../../server/power/ipmi.js';
import { machineWith, recordingSink, rejection } from './helpers.js';

const PASSWORD = 'ipmi-Pw9-secret';
const dir = await mkdtemp(join(tmpdir(), 'ks-ipmi-'));

async function freeUdpPort(): Promise<number> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  const port = sock.address().port;
  await new Promise<void>((r) => sock.close(r));
  return port;
}

const port = await freeUdpPort();
// Templates from test/power/fixtures/ipmi ($DIR, $PORT, $PASSWORD filled in here).
const fixtures = new URL('./fixtures/ipmi/', import.meta.url);
const fill = (text: string) => text.replace(/\$DIR/g, dir).replace(/\$PORT/g, String(port)).replace(/\$PASSWORD/g, PASSWORD);
for (const file of ['lan.conf', 'sim.emu', 'chassis.sh']) await writeFile(join(dir, file), fill(await readFile(new URL(file, fixtures), 'utf8')));
await chmod(join(dir, 'chassis.sh'), 0o755);

const sim: ChildProcess = spawn('ipmi_sim', ['-c', join(dir, 'lan.conf'), '-f', join(dir, 'sim.emu'), '-n', '-s', join(dir, 'state')], { stdio: 'ignore' });
t.teardown(async () => {
  sim.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

const sink = recordingSink();
const machine = (bmc: { password?: string; address?: string; timeoutSeconds?: number } = {}) =>
  machineWith({ driver: 'ipmi', address: bmc.address ?? `127.0.0.1:${port}`, username: 'admin', password: bmc.password ?? PASSWORD, timeoutSeconds: bmc.timeoutSeconds ?? 10 });
const driver = createPowerDriver(machine(), { sink });
const chassisLog = async () => (await readFile(join(dir, 'chassis.log'), 'utf8').catch(() => '')).trim().split('\n');
const setLines = async () => (await chassisLog()).filter((l) => / set /.test(l));

// ipmi_sim needs a moment before it answers on its port.
for (let i = 0; ; i++) {
  try {
    await driver.status();
    break;
  } catch (err) {
    if (i > 50) throw err;
    await new Promise((r) => setTimeout(r, 100));
  }
}

t.test('power on, status, power off against ipmi_sim', async (t) => {
  t.equal(await driver.status(), 'off');
  await driver.on();
  t.equal((await readFile(join(dir, 'power'), 'utf8')).trim(), '1', 'the chassis hook saw power on');
  t.equal(await driver.status(), 'on');
  await driver.off();
  t.equal(await driver.status(), 'off');
  t.same((await setLines()).slice(-2), ['0x20 set power 1', '0x20 set power 0']);
});

t.test('one-time PXE boot sets the boot device', async (t) => {
  await driver.bootOnceToPxe('uefi');
  t.equal((await readFile(join(dir, 'boot'), 'utf8')).trim(), 'pxe');
  t.equal((await setLines()).at(-1), '0x20 set boot pxe');
  t.match(sink.events.at(-1)?.message, /IPMI chassis bootdev pxe options=efiboot done/);
});

t.test('cycle powers on a chassis that is off, and power-cycles one that is on', async (t) => {
  await driver.cycle();
  t.equal((await setLines()).at(-1), '0x20 set power 1', 'off → power on');
  t.equal(await driver.status(), 'on');
  await driver.cycle();
  t.equal((await setLines()).at(-1), '0x20 set power 0', 'on → power cycle (ipmi_sim powers off first)');
  t.match(sink.events.map((e) => e.message).slice(-2), [/chassis power on done/, /chassis power cycle done/]);
});

t.test('a wrong password is an auth failure that does not show it', async (t) => {
  const wrong = 'Wr0ng-ipmi-pass';
  const err = await rejection(createPowerDriver(machine({ password: wrong }), { sink }).cycle());
  t.equal(err.kind, 'auth');
  t.match(err.message, /web-01: IPMI power cycle at 127\.0\.0\.1:\d+: authentication refused for user "admin"/);
  t.notMatch(err.message, wrong);
});

t.test('a BMC that never answers: killed at the deadline, password never on a command line', async (t) => {
  const silent = await freeUdpPort();
  const started = Date.now();
  const call = rejection(createPowerDriver(machine({ address: `127.0.0.1:${silent}`, timeoutSeconds: 2 }), { sink }).status());
  await new Promise((r) => setTimeout(r, 500));
  const running = await ipmitoolsFor(silent);
  t.equal(running.length, 1, 'ipmitool is running');
  t.notOk(running.some((cmd) => cmd.includes(PASSWORD)), 'the password is not in its argv');
  const err = await call;
  t.equal(err.kind, 'timeout');
  t.match(err.message, /no answer within 2 s/);
  const took = Date.now() - started;
  t.ok(took < 3000, `settled after ${took} ms (ipmitool alone retries for ≈ 20 s)`);
  await new Promise((r) => setTimeout(r, 200));
  t.same(await ipmitoolsFor(silent), [], 'the child was killed');
});

async function ipmitoolsFor(port: number): Promise<string[]> {
  const out: string[] = [];
  for (const pid of (await readdir('/proc')).filter((p) => /^\d+$/.test(p))) {
    const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    const argv = cmd.split('\0');
    if (argv[0]?.endsWith('ipmitool') && argv.includes(String(port))) out.push(argv.join(' '));
  }
  return out;
}

t.test('command lines and output parsing', async (t) => {
  t.same(ipmiTarget('10.0.0.5'), { host: '10.0.0.5', port: 623 });
  t.same(ipmiTarget('bmc-7:6230'), { host: 'bmc-7', port: 6230 });
  t.same(ipmiTarget('[fd00::5]:624'), { host: 'fd00::5', port: 624 });
  t.same(ipmiTarget('fd00::5'), { host: 'fd00::5', port: 623 });
  const args = ipmitoolArgs({ host: 'h', port: 623 }, 'admin', IPMI.pxe('bios'));
  t.same(args.slice(0, 11), ['-I', 'lanplus', '-C', '3', '-H', 'h', '-p', '623', '-U', 'admin', '-E']);
  t.same(args.slice(-3), ['chassis', 'bootdev', 'pxe']);
  t.same(IPMI.pxe('uefi'), ['chassis', 'bootdev', 'pxe', 'options=efiboot']);
  t.equal(parsePowerStatus('Chassis Power is on\n'), 'on');
  t.throws(() => parsePowerStatus('garbage'), /ipmitool answered "garbage"/);
  const target = { host: 'h', port: 623 };
  t.equal(ipmiFailure('RAKP 2 message indicates an error : unauthorized name\nError: Unable to establish IPMI v2 / RMCP+ session', 'x', target).kind, 'auth');
  t.equal(ipmiFailure('Error: Unable to establish IPMI v2 / RMCP+ session', 'x', target).kind, 'unreachable');
  t.match(ipmiFailure('Loading IANA PEN Registry...\nSet Chassis Power Control to Cycle failed: Command not supported in present state', 'x', target).message, /failed: Set Chassis Power Control to Cycle failed/);
});
