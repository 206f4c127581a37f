import type { Test } from 'tap';
import type { PgServer } from '../helpers/postgres.js';
import type { ServerHarness } from './netns.js';

/** Several kickstand DHCP servers on one PostgreSQL, as hosts on one segment: what the standby tests share. */

/** A fresh database of the test's PostgreSQL, over its Unix socket: servers in namespaces of their own cannot reach the test's 127.0.0.1. */
export async function socketUrl(t: Test, pg: PgServer): Promise<string> {
  const database = new URL(await pg.createDatabase(t)).pathname.slice(1);
  return `postgres://postgres@/${database}?host=${encodeURIComponent(pg.socketDir)}&port=${pg.port}`;
}

/** Kills the holder with SIGKILL; resolves with the milliseconds until the standby said it answers `segment` (at most 10 s). */
export async function killHolder(holder: ServerHarness, standby: ServerHarness, segment: string): Promise<number> {
  const said = () => standby.events.filter((e) => e.message === `answering DHCP for ${segment}`).length;
  const before = said();
  holder.proc.kill('SIGKILL');
  await new Promise((r) => holder.proc.once('exit', r));
  const killed = Date.now();
  while (said() === before && Date.now() - killed < 10_000) await new Promise((r) => setTimeout(r, 20));
  return Date.now() - killed;
}
