/**
 * A process that holds an instance name: opens the PostgreSQL store at argv[2] as instance
 * argv[3] (and claims the DHCP subnets argv[4…], not as a standby), writes one event, prints
 * `ready`, and waits to be killed (instance-lock.test.ts and subnet-locks.test.ts kill it with
 * SIGKILL). Prints `refused: MESSAGE` and exits 3 when the name is taken.
 */
import { InstanceNameTaken } from '../../server/store/instance-lock.js';
import { openPostgresStore } from '../../server/store/postgres.js';

const [url, instance, ...subnets] = process.argv.slice(2);
// Run without arguments (`npx tap test/store/` runs every file): nothing to hold.
if (!url || !instance) process.exit(0);
try {
  const store = await openPostgresStore(url, { instance });
  if (subnets.length) await store.claimSubnets!(subnets, { standby: false });
  await store.events.append({ kind: 'dhcp', level: 'info', message: `hello from pid ${process.pid}` });
  process.stdout.write('ready\n');
  setInterval(() => undefined, 60_000);
} catch (err) {
  process.stdout.write(`${err instanceof InstanceNameTaken ? 'refused' : 'failed'}: ${(err as Error).message}\n`);
  process.exit(3);
}
