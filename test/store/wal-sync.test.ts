import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';

/**
 * Where the SQLite store's writes reach the disk, seen by strace in a child process
 * (wal-sync-child.ts): a write resolves only after an fsync of the WAL that began after its
 * commit's frames were written, and that fsync never runs on the event loop's thread.
 * Transactions committed while a sync runs share the next one.
 */
t.test("a SQLite write resolves after the WAL's fsync, which runs off the event loop, shared by the commits made meanwhile", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ks-walsync-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const trace = join(dir, 'trace');
  const child = join(import.meta.dirname, 'wal-sync-child.ts');
  const { stdout } = await promisify(execFile)('strace', ['-f', '-y', '-qq', '-s', '40', '-e', 'trace=pwrite64,write,fsync,fdatasync', '-o', trace, process.execPath, '--import', 'tsx', child]);
  const db = stdout.split('\n')[0];

  // One entry per finished call, in the order they finished: [thread, what].
  const pending = new Map<string, { path: string; text?: string }>();
  const done: { tid: string; call: string; path: string; text?: string }[] = [];
  for (const line of readFileSync(trace, 'utf8').split('\n')) {
    // strace pads a short thread id ("2194  write(…"). A descriptor's path may hold '>' itself (a
    // socket's "[inode->peer]"): it ends at '>,' or '>)'.
    const m = /^(\d+)\s+(?:<\.\.\. (\w+) resumed>|(\w+)\(\d+<((?:[^>]|>(?![,)]))*)>(?:, "((?:[^"\\]|\\.)*)")?.*?(<unfinished \.\.\.>|= -?\d+))/.exec(line);
    if (!m) continue;
    const [, tid, resumed, call, path, text, end] = m;
    const unfinished = end === '<unfinished ...>';
    if (resumed) {
      const started = pending.get(`${tid} ${resumed}`);
      pending.delete(`${tid} ${resumed}`);
      if (started) done.push({ tid, call: resumed, ...started });
      continue;
    }
    if (unfinished) pending.set(`${tid} ${call}`, { path, text });
    else done.push({ tid, call, path, text });
  }
  const wal = `${db}-wal`;
  const start = done.findIndex((d) => d.text === 'start\\n');
  const end = done.findIndex((d) => d.text === 'end\\n');
  if (!t.ok(start > 0 && end > start, 'the child ran to its end')) {
    t.comment(readFileSync(trace, 'utf8').split('\n').filter((l) => /start|end\\n|resolved/.test(l)).join('\n'));
    return;
  }
  const mainThread = done[start].tid;
  const phase = done.slice(start, end);
  const isSync = (d: (typeof done)[0]) => (d.call === 'fsync' || d.call === 'fdatasync') && d.path === wal;
  const isWalWrite = (d: (typeof done)[0]) => d.call === 'pwrite64' && d.path === wal;

  t.same(phase.filter((d) => isSync(d) && d.tid === mainThread), [], 'no WAL sync on the event loop thread while the writes ran');
  const resolved = phase.map((d, i) => ({ i, what: /^resolved (.*)\\n$/.exec(d.text ?? '')?.[1] })).filter((r) => r.what);
  t.equal(resolved.length, 19, 'every write resolved');
  let previous = 0;
  for (const { i, what } of resolved) {
    const lastWrite = phase.slice(0, i).map(isWalWrite).lastIndexOf(true);
    // A sync that finished after the last WAL write before this resolution (strace prints a
    // call that is not interrupted, or its resumption, when it returns).
    const synced = phase.findIndex((d, j) => j > lastWrite && j < i && isSync(d));
    if (what!.startsWith('group')) continue;
    t.ok(lastWrite > previous && synced > lastWrite, `${what}: its commit was written to the WAL (${lastWrite > previous}), then synced, before it resolved (${synced > lastWrite})`);
    previous = i;
  }
  const group = resolved.filter((r) => r.what!.startsWith('group'));
  const firstGroupWrite = phase.findIndex((d, j) => j > resolved.find((r) => r.what === 'transaction 5')!.i && isWalWrite(d));
  for (const { i, what } of group) t.ok(phase.some((d, j) => j > firstGroupWrite && j < i && isSync(d)), `${what}: a sync of the group's commits finished before it resolved`);
  const groupSyncs = phase.filter((d, j) => j > firstGroupWrite && j < group.at(-1)!.i && isSync(d)).length;
  t.ok(groupSyncs >= 1 && groupSyncs < group.length, `8 transactions at once took ${groupSyncs} sync(s), fewer than one each`);
});
