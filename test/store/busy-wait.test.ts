import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import t from 'tap';
import type { Machine } from '../../server/model/machine.js';
import { tempStore } from './temp-store.js';

/**
 * Another process that holds SQLite's write lock for a moment (the sqlite3 CLI, a backup tool)
 * makes a write wait for it, up to busy_timeout (5 s), and then succeed: it is not answered
 * "database is locked" (503) at once. Writes that read before they write (machines.put checks
 * MAC owners, status.put the version) used to fail at once: a deferred transaction that already
 * reads cannot wait for the lock, SQLite returns SQLITE_BUSY without calling the busy handler.
 */
const HOLD_MS = 400;

/** A child process that takes the write lock, says so, and releases it after HOLD_MS. */
async function lockFor(file: string) {
  const code = `
    const db = new (require('better-sqlite3'))(process.argv[1]);
    db.exec('BEGIN IMMEDIATE');
    process.stdout.write('locked\\n');
    setTimeout(() => { db.exec('COMMIT'); db.close(); }, ${HOLD_MS});
  `;
  const child = spawn(process.execPath, ['-e', code, file], { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'inherit'] });
  const [chunk] = (await once(child.stdout!, 'data')) as [Buffer];
  if (!String(chunk).includes('locked')) throw new Error(`lock holder said ${chunk}`);
  return { exited: once(child, 'exit') };
}

t.test('a write waits for another process to release the write lock', async (t) => {
  const { store, file } = await tempStore(t, 'ks-busy-');

  const writes: [string, () => Promise<unknown>][] = [
    ['status.put', () => store.status.put({ machine: 'm1', state: 'registered', netboot: 'local', stateSince: 1, hostKeys: [], version: 1 })],
    ['machines.put', () => store.machines.put({ name: 'm1', profile: 'p1', macs: ['52:54:00:00:00:01'] } as Machine)],
    ['leases.putMany', () => store.leases.putMany([{ mac: '52:54:00:00:00:01', ip: '10.0.0.5', subnet: '10.0.0.0/24', state: 'bound', expiresAt: 1, updatedAt: 1 }])],
    ['transaction', () => store.transaction(async (tx) => tx.status.put({ machine: 'm1', state: 'ready', netboot: 'local', stateSince: 2, hostKeys: [], version: 2 }))],
  ];
  for (const [name, write] of writes) {
    const { exited } = await lockFor(file);
    const start = performance.now();
    const outcome = await write().then(
      () => 'written',
      (err: Error) => `${err.name}: ${err.message}`,
    );
    const took = performance.now() - start;
    t.equal(outcome, 'written', `${name}: written once the lock is released`);
    // Not asserted: on a loaded machine the lock may already be gone when the write starts.
    t.comment(`${name}: waited ${took.toFixed(0)} ms for the lock`);
    await exited;
  }
  t.match(await store.status.get('m1'), { version: 2, state: 'ready' });
  t.ok(await store.machines.byMac('52:54:00:00:00:01'));
});
