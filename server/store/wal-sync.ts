import { closeSync, fsync, fsyncSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { promisify } from 'node:util';

const fsyncAsync = promisify(fsync);

export interface WalSync {
  /**
   * Resolves once every commit made before the call is on disk: an fsync of the WAL file that
   * started after the call has ended. Calls made while one runs share the next.
   */
  durable(): Promise<void>;
  /** After the syncs asked for so far. */
  close(): Promise<void>;
}

/**
 * Group commit for a SQLite database in WAL mode with synchronous=NORMAL. SQLite writes a
 * commit's frames into the WAL file (the page cache) without syncing; this syncs the WAL on
 * libuv's thread pool instead of the event loop, once for every commit made while the previous
 * sync ran. A writer that waits for durable() after its COMMIT is as safe as synchronous=FULL
 * (the frames and the WAL header are on disk before it is told so), while the event loop never
 * waits for the disk: with FULL, every COMMIT blocked it for an fsync (0.1 ms on a quiet disk,
 * tens of ms on a busy one), one after the other.
 *
 * The file stays the same one while the store is open: SQLite deletes a WAL only when the last
 * connection closes, and it truncates none (no journal_size_limit); after a checkpoint it writes
 * the WAL again from its start, which the next sync covers like any write.
 */
export function walSync(databaseFile: string): WalSync {
  // The WAL was created (when journal_mode became WAL and the migrations wrote); its directory
  // entry is made durable once, so a synced WAL is found after a power cut.
  const fd = openSync(`${databaseFile}-wal`, 'r');
  const dir = openSync(dirname(databaseFile), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
  let running: Promise<void> | undefined;
  let next: Promise<void> | undefined;
  const start = (): Promise<void> => {
    const p = fsyncAsync(fd).finally(() => {
      if (running === p) running = undefined;
    });
    running = p;
    return p;
  };
  return {
    durable() {
      if (!running) return start();
      // The running sync may have begun before this caller's commit: it waits for the next one.
      next ??= running
        .catch(() => undefined)
        .then(() => {
          next = undefined;
          return start();
        });
      return next;
    },
    async close() {
      await next?.catch(() => undefined);
      await running?.catch(() => undefined);
      closeSync(fd);
    },
  };
}
