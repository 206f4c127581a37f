/**
 * A process that holds an instance name: opens the PostgreSQL store at argv[2] as instance
 * argv[3], writes one event, prints `ready`, and waits to be killed (instance-lock.test.ts
 * kills it with SIGKILL). Prints `refused: MESSAGE` and exits 3 when the name is taken.
 */
import { InstanceNameTaken } from '../../server/store/instance-lock.js';
import { openPostgresStore } from '../../server/store/postgres.js';

const [url, instance] = process.argv.slice(2);
// Run without arguments (`npx tap test/store/` runs every file): nothing to hold.
if (!url || !instance) process.exit(0);
try {
  const store = await openPostgresStore(url, { instance });
  await store.events.append({ kind: 'dhcp', level: 'info', message: `hello from pid ${process.pid}` });
  process.stdout.write('ready\n');
  setInterval(() => undefined, 60_000);
} catch (err) {
  process.stdout.write(`${err instanceof InstanceNameTaken ? 'refused' : 'failed'}: ${(err as Error).message}\n`);
  process.exit(3);
}
