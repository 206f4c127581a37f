import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { Config } from './config/schema.js';
import type { Machine } from './model/machine.js';
import { converge as runConverge } from './converge/converge.js';
import { loadOrCreateKeyPair } from './converge/keys.js';
import { ConvergeQueue } from './converge/queue.js';
import { runSsh } from './converge/run-ssh.js';
import { verifyAssets } from './http/boot-assets.js';
import { buildApp } from './http/app.js';
import type { Renderers } from './model/renderers.js';
import { loadInventory } from './inventory/load.js';
import { poolOverlap } from './inventory/pool-overlap.js';
import { InventoryService, type Lint } from './inventory/service.js';
import { EventLog } from './lifecycle/event-log.js';
import type { Clock } from './model/clock.js';
import { Lifecycle } from './lifecycle/lifecycle.js';
import { STATES } from './model/status.js';
import type { Logger } from './log.js';
import { createPowerDriver, type PowerDeps } from './power/driver.js';
import { openSqliteStore } from './store/sqlite.js';
import type { Store, StoreFactory } from './store/store.js';

export interface ServiceOptions {
  /** Given kickstand's converger public key, which kickstarts install for root. */
  renderers: (convergerPublicKey: string) => Renderers;
  lint?: Lint;
  clock?: Clock;
  /** Tests swap in a simulator's ipmitool path or Basic auth for Redfish. */
  power?: Partial<Omit<PowerDeps, 'sink'>>;
  /** Boot-path servers (DHCP, TFTP) started after HTTP; each returns how to stop it. */
  extraServers?: ((ctx: ServiceContext) => Promise<BootServer>)[];
  /** The store to run on; default: SQLite in the data directory. */
  store?: StoreFactory;
}

export interface BootServer {
  close(): Promise<void> | void;
  resolveIp?(ip: string): string | undefined;
}

export interface ServiceContext {
  config: Config;
  logger: Logger;
  lifecycle: Lifecycle;
  events: EventLog;
  metrics: Registry;
  /** the port HTTP actually listens on (config may say 0) */
  httpPort: number;
  /** IP → MAC from every boot server that knows (DHCP leases, iPXE script requests) */
  resolveIp: (ip: string) => string | undefined;
  store: Store;
}

/** An API token from config or env, else the one stored in the data dir, else a new one (printed once). */
async function apiToken(config: Config, logger: Logger): Promise<{ token: string; created: boolean }> {
  if (config.api.token) return { token: config.api.token, created: false };
  const file = join(config.dataDir, 'api-token');
  if (existsSync(file)) return { token: (await readFile(file, 'utf8')).trim(), created: false };
  const token = randomBytes(24).toString('base64url');
  await writeFile(file, `${token}\n`, { mode: 0o600 });
  logger.debug({ file }, 'generated a new API token');
  return { token, created: true };
}

/** Wires store, lifecycle, HTTP and boot servers from the config. */
export async function startService(config: Config, logger: Logger, opts: ServiceOptions) {
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  await verifyAssets(config.assets);
  const store = await (opts.store ?? (() => openSqliteStore(join(config.dataDir, 'kickstand.db'))))();
  const metrics = new Registry();
  collectDefaultMetrics({ register: metrics, prefix: 'kickstand_' });
  const events = new EventLog(store, logger, opts.clock);
  const keys = await loadOrCreateKeyPair(config.dataDir);
  const { token, created } = await apiToken(config, logger);

  // Bounded across hosts: a rack reinstalled at once must not open a hundred SSH sessions.
  const queue = new ConvergeQueue(config.converge.concurrency);
  // The ssh power driver reboots through the converger's key, pinned to the reported host key.
  const sshReboot = async (machine: Machine, command: string, signal: AbortSignal) => {
    const [host, status] = await Promise.all([lifecycle.address(machine), lifecycle.status(machine.name)]);
    if (!host) throw new Error(`${machine.name} has no address to reach over SSH`);
    const target = { host, port: machine.ssh?.port, user: config.converge.user, privateKey: keys.privateKey, pinnedHostKeys: status?.hostKeys ?? [] };
    return runSsh(target, command, { signal, timeoutMs: machine.bmc.timeoutSeconds * 1000 });
  };

  const lifecycle: Lifecycle = new Lifecycle({
    store,
    events,
    config,
    logger,
    clock: opts.clock,
    power: (machine) => createPowerDriver(machine, { sink: events, redfishAuth: machine.bmc.auth, runSsh: sshReboot, ...opts.power }),
    converge: ({ mode, machine, profile, hostKeys, address, deadline }) => queue.run(async () => {
      if (!profile.converge.length) return { ok: true, report: { machine: machine.name, mode, steps: [] } };
      if (!address) return { ok: false, reason: 'no address for the host: give the machine an ipv4 or let kickstand DHCP hand out its lease' };
      if (!hostKeys.length) return { ok: false, reason: 'the installer reported no host key: refusing to trust a key on first use' };
      const report = await runConverge({
        mode,
        host: address,
        port: machine.ssh?.port,
        user: config.converge.user,
        privateKey: keys.privateKey,
        pinnedHostKeys: hostKeys,
        steps: profile.converge,
        context: { machine, profile, params: machine.params },
        sink: events,
        machine: machine.name,
        deadline,
        stepTimeoutSeconds: config.converge.stepTimeoutSeconds,
      });
      return report.ok
        ? { ok: true, report }
        : { ok: false, report, reason: report.error?.message ?? `converge step(s) failed: ${report.steps.filter((s) => s.status === 'failed').map((s) => s.name).join(', ')}` };
    }),
  });

  new Gauge({
    name: 'kickstand_machines',
    help: 'Machines by lifecycle state',
    labelNames: ['state'],
    registers: [metrics],
    async collect() {
      const counts = Object.fromEntries(STATES.map((s) => [s, 0]));
      for (const s of await store.status.list()) counts[s.state]++;
      for (const [state, n] of Object.entries(counts)) this.set({ state }, n);
    },
  });

  const inventory = new InventoryService(store, lifecycle, {
    profile: opts.lint?.profile,
    machine: (m, p) => [...(opts.lint?.machine?.(m, p) ?? []), ...poolOverlap(m, config.dhcp)],
  });
  if (existsSync(config.inventory)) {
    const plan = await inventory.apply(await loadInventory(config.inventory), false);
    const changed = plan.filter((p) => p.action !== 'unchanged');
    logger.info({ dir: config.inventory, changed: changed.length, total: plan.length }, 'inventory applied');
  }

  // Bounded: a rack's worth of addresses, oldest forgotten first.
  const learned = new Map<string, string>();
  const resolvers: ((ip: string) => string | undefined)[] = [(ip) => learned.get(ip)];
  const resolveIp = (ip: string) => resolvers.map((r) => r(ip)).find(Boolean);
  const app = await buildApp({
    config,
    store,
    lifecycle,
    events,
    inventory,
    renderers: opts.renderers(keys.publicKey),
    metrics,
    logger,
    apiToken: token,
    resolveIp,
    learnIp: (ip, mac) => {
      learned.delete(ip);
      learned.set(ip, mac);
      if (learned.size > 65536) learned.delete(learned.keys().next().value!);
    },
  });
  await app.listen({ host: config.http.host, port: config.http.port });
  const port = (app.server.address() as { port: number }).port;

  const ctx: ServiceContext = { config, logger, lifecycle, events, metrics, httpPort: port, store, resolveIp };
  const servers: BootServer[] = [];
  for (const start of opts.extraServers ?? []) {
    const s = await start(ctx);
    if (s.resolveIp) resolvers.unshift(s.resolveIp.bind(s));
    servers.push(s);
  }

  await lifecycle.tick();
  const timer = setInterval(() => void lifecycle.tick().catch((err) => logger.error({ err }, 'deadline check failed')), 1000);
  timer.unref();

  return {
    app,
    port,
    apiToken: token,
    apiTokenCreated: created,
    store,
    lifecycle,
    events,
    inventory,
    publicKey: keys.publicKey,
    async close() {
      clearInterval(timer);
      for (const s of servers.reverse()) await s.close();
      await app.close();
      await lifecycle.idle();
      lifecycle.close();
      await events.flush();
      await store.close();
    },
  };
}
export type Service = Awaited<ReturnType<typeof startService>>;
