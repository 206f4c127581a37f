/** One kickstand per data directory, as real processes; the directory and its files private. */
import { createSocket } from 'node:dgram';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { cli, startServe } from './process.js';

t.test('a second kickstand on the same data directory refuses, naming the first; after kill -9 it starts', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ks-lock-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const env = { KICKSTAND_DATA_DIR: dataDir, KICKSTAND_INVENTORY: join(dataDir, 'none') };
  const first = await startServe(env);
  t.teardown(() => first.proc.kill('SIGKILL'));
  const second = await cli(['serve'], { ...env, KICKSTAND_HTTP_HOST: '127.0.0.1', KICKSTAND_HTTP_PORT: '0', KICKSTAND_TFTP_PORT: '0' });
  t.equal(second.code, 1, 'the second exits non-zero');
  t.match(second.stderr, new RegExp(`data directory ${dataDir} is in use by kickstand pid ${first.proc.pid} on `));
  t.equal((await fetch(`http://127.0.0.1:${first.port}/healthz`)).status, 200, 'the first goes on serving');
  first.proc.kill('SIGKILL');
  await new Promise((r) => first.proc.once('exit', r));
  const third = await startServe(env);
  t.teardown(() => third.proc.kill('SIGKILL'));
  t.equal((await fetch(`http://127.0.0.1:${third.port}/healthz`)).status, 200, 'a crashed holder leaves no stale lock');
});

t.test('a 0755 data directory with 0644 files is made 0700 and 0600 at start', async (t) => {
  const dataDir = join(mkdtempSync(join(tmpdir(), 'ks-perm-')), 'var');
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  mkdirSync(dataDir, { mode: 0o755 });
  chmodSync(dataDir, 0o755);
  writeFileSync(join(dataDir, 'api-token'), 'abcdefghijklmnopqrstuvwxyz012345\n', { mode: 0o644 });
  const env = { KICKSTAND_DATA_DIR: dataDir, KICKSTAND_INVENTORY: join(dataDir, 'none') };
  const svc = await startServe(env);
  t.teardown(() => svc.proc.kill('SIGKILL'));
  t.equal(statSync(dataDir).mode & 0o777, 0o700, 'the directory');
  for (const f of ['kickstand.db', 'kickstand.db-wal', 'api-token', 'kickstand.lock'])
    t.equal(statSync(join(dataDir, f)).mode & 0o777, 0o600, f);
});

t.test('a start that fails half-way (the TFTP port taken) exits 1, naming why, with nothing left running', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ks-half-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const taken = createSocket('udp4');
  await new Promise<void>((resolve) => taken.bind(0, '127.0.0.1', resolve));
  t.teardown(() => taken.close());
  const env = { KICKSTAND_DATA_DIR: dataDir, KICKSTAND_INVENTORY: join(dataDir, 'none'), KICKSTAND_HTTP_HOST: '127.0.0.1', KICKSTAND_HTTP_PORT: '0' };
  // Before, HTTP went on answering and the process never ended: a service without TFTP that
  // looked alive to its supervisor.
  const run = cli(['serve'], { ...env, KICKSTAND_TFTP_PORT: String(taken.address().port) });
  const giveUp = new AbortController();
  const ended = await Promise.race([run, sleep(30_000, undefined, { signal: giveUp.signal }).catch(() => undefined)]);
  giveUp.abort();
  t.ok(ended, 'the process ended by itself');
  t.equal(ended?.code, 1);
  t.match(ended?.stderr, /EADDRINUSE/);
  const again = await startServe(env);
  t.teardown(() => again.proc.kill('SIGKILL'));
  t.equal((await fetch(`http://127.0.0.1:${again.port}/healthz`)).status, 200, 'its data directory is free again');
});
