import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { converge, type ConvergeOptions } from '../../server/converge/converge.js';
import { ConnectError } from '../../server/converge/errors.js';
import { runSsh } from '../../server/converge/run-ssh.js';
import type { ConvergeReport } from '../../server/converge/types.js';
import type { BootEvent } from '../../server/model/events.js';
import { freePort, hostWithKickstandKey } from './sshd-host.js';

const { host, keys } = await hostWithKickstandKey(t);
const target = { host: '127.0.0.1', port: host.port, user: host.user, privateKey: keys.privateKey, pinnedHostKeys: [host.hostKey] };
const marker = join(host.dir, 'kernel-args');
const afterReboot = join(host.dir, 'after-reboot');

const steps: ConvergeOptions['steps'] = [
  { kind: 'file', name: 'kargs', path: marker, content: 'console=ttyS0\n' },
  { kind: 'reboot', name: 'reboot' },
  { kind: 'command', name: 'after', run: `touch ${afterReboot}`, creates: afterReboot },
];

function options(over: Partial<ConvergeOptions> = {}): ConvergeOptions & { events: BootEvent[] } {
  const events: BootEvent[] = [];
  return {
    mode: 'apply',
    ...target,
    steps,
    context: { machine: {}, profile: {}, params: {} },
    sink: { report: (e) => events.push(e) },
    machine: 'db-02',
    deadline: Date.now() + 30_000,
    stepTimeoutSeconds: 20,
    events,
    ...over,
  };
}
const statuses = (r: { steps: { name: string; status: string }[] }) => Object.fromEntries(r.steps.map((s) => [s.name, s.status]));
const reboots = () => host.calls().filter((l) => l.includes('systemctl reboot')).length;

t.test('plan says a reboot would follow the change; audit has nothing to say about reboots', async (t) => {
  const plan = await converge(options({ mode: 'plan' }));
  t.same(statuses(plan), { kargs: 'would-change', reboot: 'would-change', after: 'would-change' });
  t.match(plan.steps[1]!.detail, 'reboot (after kargs)');
  const audit = await converge(options({ mode: 'audit', steps: [{ kind: 'reboot', name: 'r', when: 'always' }] }));
  t.same(statuses(audit), { r: 'ok' });
  t.equal(reboots(), 0);
});

t.test('the reboot step waits for the host to come back, with the same pinned key', async (t) => {
  const pid = await host.pid();
  const r = await converge(options());
  t.ok(r.ok, JSON.stringify(r.steps));
  t.same(statuses(r), { kargs: 'changed', reboot: 'changed', after: 'changed' });
  t.equal(reboots(), 1);
  t.not(await host.pid(), pid, 'sshd was restarted under the converger');
  t.match(r.steps[1]!.output, /host is back after \d+ ms/);
  t.ok(r.steps[1]!.durationMs >= 1500, `the step lasted through the restart (${r.steps[1]!.durationMs} ms)`);
  t.ok(existsSync(afterReboot), 'the step after the reboot ran on the new connection');

  const again = await converge(options());
  t.same(statuses(again), { kargs: 'ok', reboot: 'ok', after: 'ok' });
  t.equal(reboots(), 1, 'nothing changed, so no reboot');
});

t.test('a host that is still booting is waited for', async (t) => {
  await host.stop();
  const later = sleep(1500).then(() => host.start());
  const o = options({ mode: 'audit', deadline: Date.now() + 20_000 });
  const r = await converge(o);
  await later;
  t.ok(r.ok, JSON.stringify(r.error));
  t.ok(r.durationMs >= 1400, `waited ${r.durationMs} ms`);
  const waits = o.events.filter((e) => e.level === 'debug' && e.data?.reason === 'refused');
  t.ok(waits.length >= 1, 'each retry was reported');
  t.match(waits[0]!.message, /connection refused.*attempt 2 in \d+ ms/);
});

t.test('nothing listening: refused until the deadline, then a clear reason, on time', async (t) => {
  const port = await freePort();
  const started = Date.now();
  const r = await converge(options({ port, deadline: Date.now() + 2500 }));
  const took = Date.now() - started;
  t.equal(r.error?.kind, 'refused');
  t.match(r.error?.message, new RegExp(`127\\.0\\.0\\.1:${port}: connection refused .*gave up at the deadline after \\d+ attempt`));
  t.ok(Number(/after (\d+) attempt/.exec(r.error!.message)![1]) >= 2, 'it retried');
  t.ok(took >= 2000 && took < 3500, `returned at the deadline (${took} ms)`);
});

t.test('a port that accepts but never speaks SSH: timeout before the deadline', async (t) => {
  const sockets: Socket[] = [];
  const silent = createServer((s) => sockets.push(s));
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  const started = Date.now();
  const r = await converge(options({ port: (silent.address() as { port: number }).port, deadline: Date.now() + 2000 }));
  const took = Date.now() - started;
  sockets.forEach((s) => s.destroy());
  silent.close();
  t.equal(r.error?.kind, 'timeout');
  t.match(r.error?.message, /no SSH handshake within .*gave up at the deadline/);
  t.ok(took < 3500, `returned at the deadline (${took} ms)`);
});

t.test('an unusable private key fails at once as auth', async (t) => {
  const o = options({ privateKey: 'not a key', deadline: Date.now() + 10_000 });
  const r = await converge(o);
  t.equal(r.error?.kind, 'auth');
  t.match(r.error?.message, /private key is unusable/);
  t.notOk(o.events.some((e) => e.level === 'debug' && e.data?.reason), 'not retried until the deadline');
});

t.test('no route to the host: unreachable, with the reason from the kernel, at the deadline', async (t) => {
  // A fresh network namespace whose loopback is down: connect() fails with ENETUNREACH and no
  // packet is sent anywhere.
  const ns = `kscv${process.pid}`;
  execFileSync('ip', ['netns', 'add', ns]);
  t.teardown(() => execFileSync('ip', ['netns', 'del', ns]));
  const script = `
    const { converge } = await import(${JSON.stringify(new URL('../../server/converge/converge.ts', import.meta.url).pathname)});
    const r = await converge({ ...JSON.parse(process.argv[1]), sink: { report() {} }, deadline: Date.now() + 2000 });
    console.log(JSON.stringify(r));`;
  const { sink: _sink, ...plain } = options({ port: 22 });
  const out = execFileSync('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', '--input-type=module', '-e', script, JSON.stringify(plain)], {
    encoding: 'utf8',
    timeout: 20_000,
  });
  const r = JSON.parse(out) as ConvergeReport;
  t.equal(r.error?.kind, 'unreachable');
  t.match(r.error?.message, /127\.0\.0\.1:22: host unreachable \(ENETUNREACH\) \(gave up at the deadline after \d+ attempt/);
  t.ok(r.durationMs >= 1800 && r.durationMs < 3500, `kept trying until the deadline (${r.durationMs} ms)`);
});

t.test('runSsh runs one command as root through the same key and pinning', async (t) => {
  const id = await runSsh(target, 'id -un');
  t.same(id, { code: 0, stdout: 'root\n', stderr: '' });

  const wrong = join(host.dir, 'wrong');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', wrong]);
  const refused = await runSsh({ ...target, pinnedHostKeys: [readFileSync(`${wrong}.pub`, 'utf8')] }, 'id').catch((e: unknown) => e);
  t.equal((refused as ConnectError).kind, 'host-key-mismatch');
  await t.rejects(runSsh({ ...target, port: await freePort() }, 'id', { timeoutMs: 1200 }), ConnectError);
  const abort = new AbortController();
  setTimeout(() => abort.abort(new Error('power call cancelled')), 300);
  const started = Date.now();
  await t.rejects(runSsh(target, 'sleep 3', { signal: abort.signal }), /power call cancelled/);
  t.ok(Date.now() - started < 2000, 'aborting ends a running command at once');

  const pid = await host.pid();
  const r = await runSsh(target, 'systemctl reboot');
  t.ok(r.code === 0 || r.code === null, `reboot accepted (code ${r.code})`);
  await sleep(600); // the shim takes sshd down 0.3 s after answering
  const back = await runSsh(target, 'echo up', { timeoutMs: 10_000 });
  t.equal(back.stdout, 'up\n');
  t.not(await host.pid(), pid, 'the host went down and came back');
});
