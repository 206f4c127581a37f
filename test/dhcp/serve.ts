/**
 * Runs startDhcpServer inside a network namespace for the socket tests and the benchmark:
 *   ip netns exec NS node --import tsx test/dhcp/serve.ts '<json spec>'
 * stdout: JSON lines {ready}, {event}; stdin: "stats" → {stats}, "mac <ip>" → {mac}, "ip <mac>" → {ip}
 * (the MAC's DHCP address), "metrics" → {metrics} (Prometheus text), "roles" → {roles} (segments
 * answered and waited for, with postgres), "lookups" → {lookups} (directory lookups made, and the
 * most under way at once).
 */
import { createInterface } from 'node:readline';
import { Registry } from 'prom-client';
import { Config, type ConfigInput } from '../../server/config/schema.js';
import { dhcpSegments } from '../../server/dhcp/segments.js';
import { startDhcpServer } from '../../server/dhcp/server.js';
import type { BootView } from '../../server/model/boot.js';
import type { LeaseBook } from '../../server/model/lease.js';
import { AddressBook } from '../../server/reads/address-book.js';
import type { SubnetClaims } from '../../server/store/subnet-locks.js';
import { MemoryLeases } from './memory-leases.js';

interface Spec {
  dhcp: ConfigInput['dhcp'];
  publicUrl: string;
  machines?: BootView[];
  /** SQLite file for the real store; in-memory leases otherwise. */
  sqlite?: string;
  /** The PostgreSQL store instead, as one of several instances: its segments claimed (dhcp.standby as the spec says). */
  postgres?: { url: string; instance: string };
  /** Every lease commit fails, as with a full disk. */
  failingStore?: boolean;
  /** Each directory lookup takes this long, as a store over the network does. */
  directoryMs?: number;
  quiet?: boolean;
}

const spec = JSON.parse(process.argv[2]) as Spec;
const out = (o: unknown) => process.stdout.write(JSON.stringify(o) + '\n');
const machines = new Map<string, BootView>();
for (const m of spec.machines ?? []) for (const mac of m.macs) machines.set(mac, m);

let leases: LeaseBook = new MemoryLeases();
if (spec.failingStore)
  leases.putMany = async () => {
    throw new Error('disk full');
  };
let closeStore = async () => {};
let ownership: SubnetClaims | undefined;
if (spec.postgres) {
  const { openPostgresStore } = await import('../../server/store/postgres.js');
  const store = await openPostgresStore(spec.postgres.url, { instance: spec.postgres.instance });
  leases = store.leases;
  const dhcp = Config.parse({ dhcp: spec.dhcp }).dhcp;
  ownership = await store.claimSubnets!(dhcpSegments(dhcp), { standby: dhcp.standby });
  closeStore = async () => {
    await ownership!.release();
    await store.close();
  };
}
if (spec.sqlite) {
  const { openSqliteStore } = await import('../../server/store/sqlite.js');
  const store = await openSqliteStore(spec.sqlite);
  leases = store.leases;
  closeStore = () => store.close();
}
const lookups = { made: 0, mostAtOnce: 0, now: 0 };
async function lookUp(mac: string): Promise<BootView | undefined> {
  lookups.made++;
  lookups.mostAtOnce = Math.max(lookups.mostAtOnce, ++lookups.now);
  try {
    if (spec.directoryMs) await new Promise((r) => setTimeout(r, spec.directoryMs));
    return machines.get(mac);
  } finally {
    lookups.now--;
  }
}
const registry = new Registry();
const addresses = new AddressBook();
const server = await startDhcpServer({
  registry,
  config: Config.parse({ dhcp: spec.dhcp }).dhcp,
  publicUrl: spec.publicUrl,
  directory: { byMac: lookUp },
  leases,
  ownership,
  addresses,
  sink: { report: (event) => !spec.quiet && out({ event, at: Date.now() }) },
  logger: { info: () => {}, warn: (o, m) => process.stderr.write(`${m} ${JSON.stringify(o)}\n`), error: (o, m) => process.stderr.write(`${m} ${String((o as { err?: unknown }).err ?? '')}\n`) },
});
out({ ready: true, serverAddress: server.serverAddress });

createInterface({ input: process.stdin }).on('line', (line) => {
  const [cmd, arg] = line.trim().split(/\s+/);
  if (cmd === 'stats') out({ stats: server.stats() });
  if (cmd === 'mac') out({ mac: addresses.macAt(arg) ?? null });
  if (cmd === 'ip') out({ ip: addresses.dhcpAddressOf(arg) ?? null });
  if (cmd === 'metrics') void registry.metrics().then((metrics) => out({ metrics }));
  if (cmd === 'roles') out({ roles: ownership?.roles() ?? null });
  if (cmd === 'lookups') out({ lookups });
});
process.on('SIGTERM', async () => {
  await server.close();
  await closeStore();
  process.exit(0);
});
