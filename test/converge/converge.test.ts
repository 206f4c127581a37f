import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import t from 'tap';
import type { BootEvent } from '../../server/model/events.js';
import { converge, type ConvergeOptions } from '../../server/converge/converge.js';
import type { ConvergeReport } from '../../server/converge/types.js';
import { loadOrCreateKeyPair } from '../../server/converge/keys.js';
import { hostWithKickstandKey } from './sshd-host.js';

const { host, keys } = await hostWithKickstandKey(t);
host.authorize('root', keys.publicKey);

const root = join(host.dir, 'root');
mkdirSync(join(root, 'var'), { recursive: true });
const conf = join(root, 'etc/nginx/nginx.conf');
const S = host.state;
// The installed host: nginx's unit exists but is off, telnet came with the image.
writeFileSync(join(S, 'units/nginx.unit'), '');
writeFileSync(join(S, 'pkgs/telnet'), '');

const steps: ConvergeOptions['steps'] = [
  { kind: 'packages', name: 'base', packages: ['nginx', 'jq'] },
  { kind: 'packages', name: 'no-telnet', packages: ['telnet'], state: 'absent' },
  {
    kind: 'file',
    name: 'nginx-conf',
    path: conf,
    template: 'server_name {{machine.name}};\n# rack {{params.rack}}, profile {{profile.name}}\n',
    mode: '0640',
    group: host.user,
  },
  { kind: 'service', name: 'nginx', service: 'nginx', restartOn: ['nginx-conf'] },
  { kind: 'container', name: 'app', container: 'app', image: 'localhost/app:1.2.3', args: ['-p', '8080:80'] },
  { kind: 'command', name: 'init-db', run: `touch ${root}/var/db-ready && echo initialised`, creates: `${root}/var/db-ready` },
  { kind: 'command', name: 'hosts-line', run: `echo 127.0.0.9 app >> ${root}/var/hosts`, unless: `grep -q app ${root}/var/hosts` },
];

function options(over: Partial<ConvergeOptions> = {}): ConvergeOptions & { events: BootEvent[] } {
  const events: BootEvent[] = [];
  return {
    mode: 'apply',
    host: '127.0.0.1',
    port: host.port,
    user: host.user,
    privateKey: keys.privateKey,
    pinnedHostKeys: [host.hostKey],
    steps,
    context: { machine: { name: 'web-01' }, profile: { name: 'r640' }, params: { rack: 'a3' } },
    sink: { report: (e) => events.push(e) },
    machine: 'web-01',
    deadline: Date.now() + 30_000,
    stepTimeoutSeconds: 20,
    events,
    ...over,
  };
}

const statuses = (r: ConvergeReport) => Object.fromEntries(r.steps.map((s) => [s.name, s.status]));
/** Shim calls that change the host: what plan, audit and a converged apply must never make. */
const MUTATING = /^\S+ \S+ (dnf|systemctl (enable|disable|start|stop|restart|reboot)|podman (run|start|stop)) /;
const mutations = (from: number) => host.calls().slice(from).filter((l) => MUTATING.test(l));

t.test('plan on a fresh host says what would change and changes nothing', async (t) => {
  const before = host.calls().length;
  const r = await converge(options({ mode: 'plan' }));
  t.ok(r.ok, JSON.stringify(r.error));
  t.same(statuses(r), {
    base: 'would-change',
    'no-telnet': 'would-change',
    'nginx-conf': 'would-change',
    nginx: 'would-change',
    app: 'would-change',
    'init-db': 'would-change',
    'hosts-line': 'would-change',
  });
  t.match(r.steps[0]!.detail, 'install nginx jq');
  t.match(r.steps[1]!.detail, 'remove telnet');
  t.match(r.steps[3]!.detail, /enable, start nginx/);
  t.same(mutations(before), []);
  t.notOk(existsSync(conf));
  t.ok(host.calls().length > before, 'the checks did run on the host');
});

t.test('first apply converges every step, through sudo', async (t) => {
  const before = host.calls().length;
  const o = options();
  const r = await converge(o);
  t.ok(r.ok, JSON.stringify(r.steps.filter((s) => s.status === 'failed')));
  t.same(new Set(Object.values(statuses(r))), new Set(['changed']));
  t.ok(existsSync(join(S, 'pkgs/nginx')) && existsSync(join(S, 'pkgs/jq')));
  t.notOk(existsSync(join(S, 'pkgs/telnet')));
  t.equal(readFileSync(conf, 'utf8'), 'server_name web-01;\n# rack a3, profile r640\n');
  const st = statSync(conf);
  t.equal(st.mode & 0o7777, 0o640);
  t.equal(st.uid, 0);
  t.equal(st.gid, Number(execFileSync('id', ['-g', host.user], { encoding: 'utf8' }).trim()));
  t.ok(existsSync(join(S, 'units/nginx.enabled')) && existsSync(join(S, 'units/nginx.active')));
  t.notOk(existsSync(join(S, 'units/nginx.restarts')), 'started, not restarted: a starting service reads its new config anyway');
  t.match(readFileSync(join(S, 'containers/app'), 'utf8'), /^localhost\/app:1\.2\.3\|true\|[0-9a-f]{16}$/m);
  t.equal(readFileSync(join(root, 'var/hosts'), 'utf8'), '127.0.0.9 app\n');
  t.ok(existsSync(join(root, 'var/db-ready')));
  const calls = host.calls().slice(before);
  t.ok(calls.length > 0 && calls.every((l) => l.startsWith('root sudo ')), 'every tool ran as root via sudo -n');
  t.match(r.steps.find((s) => s.name === 'init-db')!.output, 'initialised');
  t.notOk(readFileSync(join(S, 'calls.log'), 'utf8').includes('server_name'), 'file content never travels on a command line');

  // Each step: a start event and a result event with its duration.
  for (const s of steps) {
    const mine = o.events.filter((e) => e.data?.step === s.name);
    t.equal(mine.length, 2, `two events for ${s.name}`);
    t.equal(mine[1]!.data?.status, 'changed');
    t.type(mine[1]!.data?.durationMs, 'number');
    t.ok(mine.every((e) => e.kind === 'converge' && e.machine === 'web-01'));
  }
});

t.test('second apply changes nothing', async (t) => {
  const before = host.calls().length;
  const r = await converge(options());
  t.ok(r.ok);
  t.same(new Set(Object.values(statuses(r))), new Set(['ok']));
  t.equal(r.counts.ok, steps.length);
  t.same(mutations(before), []);
  t.equal(readFileSync(join(root, 'var/hosts'), 'utf8'), '127.0.0.9 app\n', 'the unless guard held');
});

t.test('audit reports a hand-edited file and a stopped service; plan shows the fix; apply restores', async (t) => {
  writeFileSync(conf, 'server_name hacked;\n');
  rmSync(join(S, 'units/nginx.active'));
  execFileSync(join(host.dir, 'shims/podman'), ['stop', 'app']);

  const before = host.calls().length;
  const audit = await converge(options({ mode: 'audit' }));
  t.ok(audit.ok, 'drift is a finding, not a failure');
  t.same(statuses(audit), { base: 'ok', 'no-telnet': 'ok', 'nginx-conf': 'drift', nginx: 'drift', app: 'drift', 'init-db': 'ok', 'hosts-line': 'ok' });
  t.match(audit.steps[2]!.detail, /content of .*nginx.conf differs/);
  t.match(audit.steps[3]!.detail, /start nginx/);
  t.notMatch(audit.steps[3]!.detail, /restart/, 'audit does not invent restarts');
  t.equal(audit.counts.drift, 3);

  const plan = await converge(options({ mode: 'plan' }));
  t.same(statuses(plan), { base: 'ok', 'no-telnet': 'ok', 'nginx-conf': 'would-change', nginx: 'would-change', app: 'would-change', 'init-db': 'ok', 'hosts-line': 'ok' });
  t.same(mutations(before), [], 'audit and plan changed nothing');
  t.equal(readFileSync(conf, 'utf8'), 'server_name hacked;\n');

  const apply = await converge(options());
  t.same(statuses(apply), { base: 'ok', 'no-telnet': 'ok', 'nginx-conf': 'changed', nginx: 'changed', app: 'changed', 'init-db': 'ok', 'hosts-line': 'ok' });
  t.match(apply.steps[4]!.detail, 'start stopped container app');
  t.equal(readFileSync(conf, 'utf8'), 'server_name web-01;\n# rack a3, profile r640\n');
  t.match(readFileSync(join(S, 'containers/app'), 'utf8'), /\|true\|/);
});

t.test('a changed file restarts the service that lists it in restartOn', async (t) => {
  writeFileSync(conf, 'edited by hand\n');
  const before = host.calls().length;
  const r = await converge(options());
  t.equal(statuses(r).nginx, 'changed');
  t.match(r.steps[3]!.detail, 'restart (nginx-conf changed) nginx');
  t.equal(readFileSync(join(S, 'units/nginx.restarts'), 'utf8').trim(), '1');
  t.same(mutations(before), ['root sudo systemctl restart nginx']);
});

t.test('resumed after a run cut short: what that run changed fires its triggers, though it is as declared now', async (t) => {
  const before = host.calls().length;
  const r = await converge(options({ changedBefore: ['nginx-conf'] }));
  t.equal(statuses(r)['nginx-conf'], 'ok', 'the file is already as declared');
  t.equal(statuses(r).nginx, 'changed');
  t.match(r.steps[3]!.detail, 'restart (nginx-conf changed) nginx');
  t.same(mutations(before), ['root sudo systemctl restart nginx'], 'the restart the cut-short run never got to');
  const plan = await converge(options({ mode: 'plan', changedBefore: ['nginx-conf'] }));
  t.equal(statuses(plan).nginx, 'ok', 'plan looks at the host as it is: an earlier run is not its business');
});

t.test('a changed container argument recreates the container', async (t) => {
  const changed = steps.map((s) => (s.name === 'app' ? { ...s, args: ['-p', '8081:80'] } : s));
  const before = readFileSync(join(S, 'containers/app'), 'utf8');
  const r = await converge(options({ steps: changed }));
  t.equal(statuses(r).app, 'changed');
  t.match(r.steps[4]!.detail, 'arguments of app changed');
  t.not(readFileSync(join(S, 'containers/app'), 'utf8'), before);
  t.ok(host.calls().some((l) => l.includes('podman run -d --replace --name app') && l.includes('8081:80')));
  const back = await converge(options());
  t.equal(statuses(back).app, 'changed', 'and back again');
});

t.test('a failing step fails the apply, keeps its output, and skips the rest', async (t) => {
  const bad: ConvergeOptions['steps'] = [
    { kind: 'packages', name: 'broken', packages: ['nosuchpkg'] },
    { kind: 'command', name: 'after', run: `touch ${root}/var/after`, creates: `${root}/var/after` },
  ];
  const o = options({ steps: bad });
  const r = await converge(o);
  t.notOk(r.ok);
  t.same(statuses(r), { broken: 'failed', after: 'skipped' });
  t.match(r.steps[0]!.detail, /dnf install exited 1: No match for argument: nosuchpkg/);
  t.match(r.steps[0]!.output, 'Unable to find a match');
  t.notOk(existsSync(join(root, 'var/after')));
  t.ok(o.events.some((e) => e.level === 'error' && e.data?.step === 'broken' && String(e.data?.output).includes('nosuchpkg')));
});

t.test('a step longer than its timeout fails with a timeout', async (t) => {
  const r = await converge(options({ steps: [{ kind: 'command', name: 'slow', run: 'sleep 31.5', unless: 'false', timeoutSeconds: 1 }] }));
  t.equal(r.steps[0]!.status, 'failed');
  t.match(r.steps[0]!.detail, /timed out after 1s/);
  t.ok(r.durationMs < 5000, `took ${r.durationMs} ms`);
  await new Promise((resolve) => setTimeout(resolve, 500));
  t.equal(spawnSync('pgrep', ['-f', 'sleep 31.5']).status, 1, 'the command was stopped on the host');
});

t.test('as root, commands run without sudo', async (t) => {
  const before = host.calls().length;
  const r = await converge(options({ user: 'root', mode: 'audit' }));
  t.ok(r.ok, JSON.stringify(r.error));
  t.equal(r.counts.ok, steps.length);
  const calls = host.calls().slice(before);
  t.ok(calls.length > 0 && calls.every((l) => l.startsWith('root direct ')), 'no sudo for root');
});

t.test('a user without passwordless sudo is refused with a clear reason', async (t) => {
  const sudoers = `/etc/sudoers.d/${host.user}`;
  const saved = readFileSync(sudoers, 'utf8');
  rmSync(sudoers);
  t.teardown(() => writeFileSync(sudoers, saved, { mode: 0o440 }));
  const r = await converge(options({ mode: 'audit' }));
  t.notOk(r.ok);
  t.equal(r.error?.kind, 'sudo');
  t.match(r.error?.message, /passwordless sudo/);
  t.equal(r.counts.skipped, steps.length);
});

t.test('a host presenting another key is refused, loudly and without retrying', async (t) => {
  const other = join(host.dir, 'other_key');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
  const o = options({ pinnedHostKeys: [readFileSync(`${other}.pub`, 'utf8')], deadline: Date.now() + 20_000 });
  const before = host.calls().length;
  const r = await converge(o);
  t.notOk(r.ok);
  t.equal(r.error?.kind, 'host-key-mismatch');
  t.match(r.error?.message, /HOST KEY MISMATCH.*SHA256:/);
  const fp = execFileSync('ssh-keygen', ['-lf', join(host.dir, 'ssh_host_ed25519_key.pub')], { encoding: 'utf8' }).split(' ')[1]!;
  t.match(r.error?.message, fp, 'names the fingerprint the host presented');
  t.notOk(o.events.some((e) => e.level === 'debug' && e.data?.reason), 'no retry: a wrong key does not fix itself');
  t.ok(r.durationMs < 10_000, `failed long before the deadline (${r.durationMs} ms)`);
  t.ok(o.events.some((e) => e.level === 'error' && e.data?.reason === 'host-key-mismatch'));
  t.same(host.calls().slice(before), [], 'no command reached the host');
  t.equal(r.counts.skipped, steps.length);
});

t.test('a pinned key of a type the host does not have is a mismatch too', async (t) => {
  const ecdsa = join(host.dir, 'ecdsa_key');
  execFileSync('ssh-keygen', ['-q', '-t', 'ecdsa', '-N', '', '-f', ecdsa]);
  const o = options({ pinnedHostKeys: [readFileSync(`${ecdsa}.pub`, 'utf8')] });
  const r = await converge(o);
  t.equal(r.error?.kind, 'host-key-mismatch');
  t.match(r.error?.message, /offers none of the key types/);
  t.notOk(o.events.some((e) => e.level === 'debug' && e.data?.reason), 'not retried');
});

t.test('an empty pin list is refused, never trusted on first use', async (t) => {
  const r = await converge(options({ pinnedHostKeys: [] }));
  t.equal(r.error?.kind, 'host-key-mismatch');
  t.match(r.error?.message, /refusing to trust a key on first use/);
});

t.test('a key the host does not authorize fails as auth', async (t) => {
  const strangerDir = mkdtempSync(join(tmpdir(), 'kscv-stranger-'));
  t.teardown(() => rmSync(strangerDir, { recursive: true, force: true }));
  const stranger = await loadOrCreateKeyPair(strangerDir);
  const r = await converge(options({ privateKey: stranger.privateKey }));
  t.equal(r.error?.kind, 'auth');
  t.match(r.error?.message, new RegExp(`user ${host.user} was not accepted`));
});

t.test('an invalid step (a latest image) is refused before connecting', async (t) => {
  const r = await converge(
    options({ port: 1, steps: [...steps, { kind: 'container', name: 'bad', container: 'bad', image: 'localhost/app:latest' }] }),
  );
  t.equal(r.error?.kind, 'invalid-step');
  const bad = r.steps.find((s) => s.name === 'bad')!;
  t.equal(bad.status, 'failed');
  t.match(bad.detail, /latest.*refused/);
  t.equal(r.counts.skipped, steps.length);
});
