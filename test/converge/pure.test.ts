import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { backoffDelay } from '../../server/converge/backoff.js';
import { classifyConnectError } from '../../server/converge/errors.js';
import { changedByInterruptedRuns } from '../../server/model/converge-progress.js';
import { blobType, fingerprint, hostKeyAlgorithms, isPinned, parsePinnedKeys } from '../../server/converge/host-keys.js';
import { ConvergeQueue } from '../../server/converge/queue.js';
import { remoteCommand, shellQuote } from '../../server/converge/shell.js';
import { parseInspect, specHash } from '../../server/converge/steps/container.js';
import { fileContent, fileDifferences, parseRemoteFile } from '../../server/converge/steps/file.js';
import { notInstalled } from '../../server/converge/steps/packages.js';
import { tail } from '../../server/converge/tail.js';
import { ContainerStep, FileStep } from '../../server/model/converge-steps.js';

const dir = mkdtempSync(join(tmpdir(), 'kscv-pure-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
function keygen(type: string, name: string): string {
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', 'c', '-f', join(dir, name)]);
  return readFileSync(join(dir, `${name}.pub`), 'utf8');
}

t.test('pinned keys: parse, match, fingerprint as ssh-keygen, algorithms per type', async (t) => {
  const ed = keygen('ed25519', 'ed');
  const ec = keygen('ecdsa', 'ec');
  const pinned = parsePinnedKeys([`# from the installer\n${ed}`, '', ec]);
  t.same(pinned.map((k) => k.type), ['ssh-ed25519', 'ecdsa-sha2-nistp256']);
  const edBlob = Buffer.from(ed.split(' ')[1]!, 'base64');
  t.ok(isPinned(pinned, edBlob));
  t.notOk(isPinned(pinned, Buffer.from(keygen('ed25519', 'other').split(' ')[1]!, 'base64')));
  t.equal(fingerprint(edBlob), execFileSync('ssh-keygen', ['-lf', join(dir, 'ed.pub')], { encoding: 'utf8' }).split(' ')[1]);
  t.same(hostKeyAlgorithms(pinned), ['ssh-ed25519', 'ecdsa-sha2-nistp256']);
  t.same(hostKeyAlgorithms(parsePinnedKeys([keygen('rsa', 'rsa')])), ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']);
  t.equal(blobType(edBlob), 'ssh-ed25519');
  // A line whose type does not match its blob is refused rather than pinned.
  t.throws(() => parsePinnedKeys([ed.replace('ssh-ed25519', 'ssh-rsa')]), /not an OpenSSH public key line/);
  t.throws(() => parsePinnedKeys(['ssh-ed25519 bm90IGEga2V5']));
});

t.test('connection errors are classified with actionable messages', async (t) => {
  const f = { where: 'h:22', user: 'root', timeoutMs: 2500, pinnedCount: 1 };
  t.equal(classifyConnectError({ code: 'ECONNREFUSED' }, f).kind, 'refused');
  const timeout = classifyConnectError({ level: 'client-timeout', message: 'Timed out while waiting for handshake' }, f);
  t.equal(timeout.kind, 'timeout');
  t.match(timeout.message, 'no SSH handshake within 2.5s');
  t.equal(classifyConnectError({ code: 'EHOSTUNREACH' }, f).kind, 'unreachable');
  t.match(classifyConnectError({ code: 'ENOTFOUND' }, f).message, 'does not resolve');
  const auth = classifyConnectError({ level: 'client-authentication', message: 'All configured authentication methods failed' }, f);
  t.equal(auth.kind, 'auth');
  t.notOk(auth.retryable);
  // The verifier's verdict wins over whatever error ssh2 reports after it.
  const mm = classifyConnectError({ level: 'protocol', message: 'Host denied' }, { ...f, refusedHostKey: 'SHA256:abc' });
  t.equal(mm.kind, 'host-key-mismatch');
  t.notOk(mm.retryable);
  t.ok(classifyConnectError({ code: 'ECONNRESET', message: 'reset' }, f).retryable);
});

t.test('backoff doubles to a cap, with bounded jitter', async (t) => {
  t.same([0, 1, 2, 3, 4, 5, 10].map((a) => backoffDelay(a, 500, 10_000, () => 0.5)), [500, 1000, 2000, 4000, 8000, 10_000, 10_000]);
  t.equal(backoffDelay(3, 500, 10_000, () => 0), 3200);
  t.equal(backoffDelay(3, 500, 10_000, () => 1), 4800);
});

t.test('shell quoting survives a real sh', async (t) => {
  for (const s of ["it's", 'a b', '$(id)', '`x`', '"q"', 'back\\slash', 'new\nline', '', 'plain/path.conf'])
    t.equal(execFileSync('sh', ['-c', `printf %s ${shellQuote(s)}`], { encoding: 'utf8' }), s);
  t.equal(remoteCommand('id -un', 'root'), `sh -c 'export LC_ALL=C; id -un'`);
  t.equal(remoteCommand('id -un', 'admin'), `sudo -n -- sh -c 'export LC_ALL=C; id -un'`);
  t.equal(remoteCommand('id -un', 'admin', 1500), `sudo -n -- timeout -k 5 2 sh -c 'export LC_ALL=C; id -un'`);
  // The limit really stops the script on this machine's coreutils.
  const started = Date.now();
  t.equal(spawnSync('sh', ['-c', remoteCommand('sleep 20', 'root', 500)]).status, 124);
  t.ok(Date.now() - started < 3000);
  t.equal(execFileSync('sh', ['-c', remoteCommand(`echo "$LC_ALL" 'it'"'"'s'`, 'root')], { encoding: 'utf8' }), "C it's\n");
});

t.test('tail keeps the end', async (t) => {
  const text = Array.from({ length: 100 }, (_, i) => `line ${i}`).join('\n') + '\n';
  t.equal(tail(text, 3), 'line 97\nline 98\nline 99');
  t.equal(tail('x'.repeat(50), 40, 10), 'x'.repeat(10));
});

t.test('file step: remote state parsing, differences, templates', async (t) => {
  const step = FileStep.parse({ kind: 'file', name: 'f', path: '/etc/x.conf', content: 'a', mode: '600', group: 'wheel' });
  const sha = 'ab'.repeat(32);
  t.equal(parseRemoteFile('absent\n'), undefined);
  const remote = parseRemoteFile(`${sha}  -\n644 root root\n`)!;
  t.same(remote, { sha256: sha, mode: 0o644, owner: 'root', group: 'root' });
  t.throws(() => parseRemoteFile('sha256sum: oops\n'));
  t.same(fileDifferences(step, sha, undefined), ['create /etc/x.conf']);
  t.same(fileDifferences(step, sha, remote), ['mode 0644 → 0600', 'owner root:root → root:wheel']);
  t.equal(fileDifferences(step, 'cd'.repeat(32), { ...remote, mode: 0o600, group: 'wheel' }).length, 1);
  t.same(fileDifferences(step, sha, { ...remote, mode: 0o600, group: 'wheel' }), []);

  const tpl = FileStep.parse({ kind: 'file', name: 't', path: '/etc/t', template: '{{machine.name}} <{{params.rack}}>' });
  t.equal(fileContent(tpl, { machine: { name: 'web-01' }, profile: {}, params: { rack: 'a&3' } }), 'web-01 <a&3>', 'not HTML-escaped');
  const typo = FileStep.parse({ kind: 'file', name: 't', path: '/etc/t', template: '{{machin.name}}' });
  t.throws(() => fileContent(typo, { machine: {}, profile: {}, params: {} }), /template of \/etc\/t does not render/);
});

t.test('packages: rpm -q output', async (t) => {
  t.same([...notInstalled('nginx-1.20-1.el9.x86_64\npackage jq is not installed\npackage tmux is not installed\n')], ['jq', 'tmux']);
  t.same([...notInstalled('nginx-1.20-1.el9.x86_64\n')], []);
});

t.test('container: inspect parsing and a spec hash that follows args', async (t) => {
  t.same(parseInspect('quay.io/a/b:1|true|abc\n'), { image: 'quay.io/a/b:1', running: true, spec: 'abc' });
  t.same(parseInspect('img:1|false|<no value>'), { image: 'img:1', running: false, spec: '' });
  const a = ContainerStep.parse({ kind: 'container', name: 'c', container: 'c', image: 'img:1', args: ['-p', '80:80'] });
  t.equal(specHash(a), specHash({ ...a }));
  t.not(specHash(a), specHash({ ...a, args: ['-p', '81:80'] }));
  t.not(specHash(a), specHash({ ...a, image: 'img:2' }));
});

t.test('queue: never more than the limit at once, in order, errors passed through', async (t) => {
  const q = new ConvergeQueue(2);
  let now = 0;
  let peak = 0;
  const order: number[] = [];
  const job = (i: number) => async () => {
    now++;
    peak = Math.max(peak, now);
    order.push(i);
    await new Promise((r) => setTimeout(r, 20));
    now--;
    if (i === 3) throw new Error('job 3 failed');
    return i * 10;
  };
  const results = await Promise.allSettled([0, 1, 2, 3, 4, 5].map((i) => q.run(job(i))));
  t.equal(peak, 2);
  t.same(order, [0, 1, 2, 3, 4, 5]);
  t.same(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message)), [0, 10, 20, 'job 3 failed', 40, 50]);
  t.equal(q.active, 0);
  t.equal(q.waiting, 0);
  t.throws(() => new ConvergeQueue(0), RangeError);
});

t.test('what an interrupted apply may have changed, from its events', async (t) => {
  let id = 0;
  const ev = (step: string | undefined, status?: string, over: Record<string, unknown> = {}) => ({
    id: ++id,
    at: id,
    machine: 'web-01',
    kind: 'converge' as const,
    level: 'info' as const,
    message: status ? `step ${step}: ${status}` : `step ${step} started`,
    data: { mode: 'apply', ...(step ? { step } : {}), ...(status ? { status } : {}), ...over },
  });
  const cases: [string, ReturnType<typeof ev>[], string[]][] = [
    ['nothing ran', [], []],
    ['ok steps changed nothing', [ev('a'), ev('a', 'ok'), ev('b'), ev('b', 'ok')], []],
    ['a changed step', [ev('a'), ev('a', 'changed'), ev('b'), ev('b', 'ok')], ['a']],
    ['the step under way when it died', [ev('a'), ev('a', 'ok'), ev('b')], ['b']],
    ['a failed step may have applied part of itself', [ev('a'), ev('a', 'failed')], ['a']],
    ['two interrupted runs: what either changed', [ev('a'), ev('a', 'changed'), ev('b'), ev('a'), ev('a', 'ok'), ev('b'), ev('b', 'ok'), ev('c')], ['a', 'c']],
    ['plan and audit change nothing', [ev('a', undefined, { mode: 'plan' }), ev('a', 'would-change', { mode: 'plan' }), ev('b', 'drift', { mode: 'audit' })], []],
    ['the run summary and other kinds are not steps', [ev(undefined, undefined, { ok: false }), { ...ev('x', 'changed'), kind: 'power' as never }], []],
  ];
  for (const [what, events, want] of cases) t.same(changedByInterruptedRuns(events), want, what);
});
