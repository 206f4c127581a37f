import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { Machine } from '../../server/model/machine.js';
import { createPowerDriver } from '../../server/power/driver.js';
import { REBOOT_COMMAND, type RunSsh } from '../../server/power/ssh.js';
import { machineWith, recordingSink, rejection } from './helpers.js';

const sshMachine = machineWith({ driver: 'ssh', timeoutSeconds: 1 });

t.test('ssh: status is on exactly when the host answers', async (t) => {
  const answers: RunSsh = async () => ({ code: 0, stdout: '', stderr: '' });
  const refuses: RunSsh = async () => {
    throw new Error('connect ECONNREFUSED');
  };
  const hangs: RunSsh = () => new Promise(() => undefined);
  t.equal(await createPowerDriver(sshMachine, { sink: recordingSink(), runSsh: answers }).status(), 'on');
  t.equal(await createPowerDriver(sshMachine, { sink: recordingSink(), runSsh: refuses }).status(), 'off');
  const started = Date.now();
  t.equal(await createPowerDriver(sshMachine, { sink: recordingSink(), runSsh: hangs }).status(), 'off');
  t.ok(Date.now() - started < 1500, 'a host that never answers is off after timeoutSeconds');
});

t.test('ssh: on and off are refused with a clear error; cycle failures say why', async (t) => {
  const driver = createPowerDriver(sshMachine, { sink: recordingSink(), runSsh: async () => ({ code: 0, stdout: '', stderr: '' }) });
  for (const action of ['on', 'off'] as const) {
    const err = await rejection(driver[action]());
    t.equal(err.kind, 'unsupported');
    t.match(err.message, new RegExp(`web-01: power ${action} is not possible with the ssh driver`));
  }
  const down = await rejection(createPowerDriver(sshMachine, { sink: recordingSink(), runSsh: async () => Promise.reject(new Error('connect ECONNREFUSED 10.0.0.9:22')) }).cycle());
  t.equal(down.kind, 'unreachable');
  t.match(down.message, /web-01: SSH reboot: the host does not answer SSH \(connect ECONNREFUSED.*power-cycle it by hand/);
  const hung = await rejection(createPowerDriver(sshMachine, { sink: recordingSink(), runSsh: () => new Promise(() => undefined) }).cycle());
  t.equal(hung.kind, 'timeout');
});

t.test('ssh: the reboot command detaches, reboots as root or through sudo, and reports a missing right', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ks-sshreboot-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  // The command runs here under `sh -c` with a PATH holding only stubs: systemctl and reboot
  // cannot be the real ones, and id/sudo play root or a user with or without sudo rights.
  const stub = async (name: string, body: string) => {
    await writeFile(join(dir, name), `#!/bin/sh\n${body}\n`);
    await chmod(join(dir, name), 0o755);
  };
  for (const tool of ['sh', 'sleep', 'nohup']) await symlink(`/bin/${tool}`, join(dir, tool));
  await stub('systemctl', `echo "systemctl $* as \${VIA:-root}" >> ${dir}/marker`);
  await stub('reboot', `echo "reboot $*" >> ${dir}/marker`);
  await stub('sudo', `[ "$SUDO_OK" = 1 ] || exit 1; shift; [ "$1" = true ] && exit 0; VIA=sudo exec "$@"`);
  const runAs = (uid: number, sudoOk: boolean): RunSsh => async (_m: Machine, command: string) => {
    await stub('id', `echo ${uid}`);
    return new Promise((resolve) =>
      execFile('/bin/sh', ['-c', command], { env: { PATH: dir, SUDO_OK: sudoOk ? '1' : '0' }, timeout: 5000 }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      ),
    );
  };
  const marker = () => readFile(join(dir, 'marker'), 'utf8').catch(() => '');
  const waitMarker = async () => {
    for (let i = 0; i < 40 && !(await marker()); i++) await new Promise((r) => setTimeout(r, 100));
    return marker();
  };

  const sink = recordingSink();
  const started = Date.now();
  await createPowerDriver({ ...sshMachine, bmc: { ...sshMachine.bmc, timeoutSeconds: 5 } }, { sink, runSsh: runAs(0, false) }).cycle();
  t.ok(Date.now() - started < 900, 'the command returned before the reboot (detached)');
  t.equal(await waitMarker(), 'systemctl reboot as root\n');
  t.match(sink.events[0], { kind: 'power', level: 'info', message: 'reboot requested over SSH' });

  await rm(join(dir, 'marker'));
  await createPowerDriver({ ...sshMachine, bmc: { ...sshMachine.bmc, timeoutSeconds: 5 } }, { sink, runSsh: runAs(1000, true) }).cycle();
  t.equal(await waitMarker(), 'systemctl reboot as sudo\n', 'a non-root user reboots through sudo -n');

  await rm(join(dir, 'marker'));
  const err = await rejection(createPowerDriver({ ...sshMachine, bmc: { ...sshMachine.bmc, timeoutSeconds: 5 } }, { sink, runSsh: runAs(1000, false) }).cycle());
  t.equal(err.kind, 'auth');
  t.match(err.message, /not root and may not run sudo without a password/);
  await new Promise((r) => setTimeout(r, 1300));
  t.equal(await marker(), '', 'nothing was rebooted');
  t.equal(REBOOT_COMMAND.includes('\n'), false, 'one line, as an SSH exec request carries it');
});

t.test('ssh: the driver needs the converger runner', async (t) => {
  t.throws(() => createPowerDriver(sshMachine, { sink: recordingSink() }), { kind: 'config', message: /needs the converger's SSH runner/ });
});

t.test('manual: every action becomes an operator request in the event sink', async (t) => {
  const sink = recordingSink();
  const driver = createPowerDriver(machineWith({ driver: 'manual' }), { sink });
  await driver.bootOnceToPxe('uefi');
  await driver.cycle();
  await driver.off();
  await driver.on();
  t.same(
    sink.events.map((e) => [e.machine, e.kind, e.level, e.message, e.data?.action]),
    [
      ['web-01', 'power', 'warn', 'operator action needed: make the next boot of web-01 a network (PXE) boot in UEFI mode', 'boot-once-pxe'],
      ['web-01', 'power', 'warn', 'operator action needed: power-cycle web-01 (power it on if it is off)', 'cycle'],
      ['web-01', 'power', 'warn', 'operator action needed: power off web-01', 'off'],
      ['web-01', 'power', 'warn', 'operator action needed: power on web-01', 'on'],
    ],
  );
  const err = await rejection(driver.status());
  t.equal(err.kind, 'unsupported');
});
