import { existsSync } from 'node:fs';
import { chmod, mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { loadApiToken } from './api-token.js';
import type { Config } from './config/schema.js';
import { answersWithPinnedKey } from './converge/alive.js';
import { converge as runConverge } from './converge/converge.js';
import { loadOrCreateKeyPair } from './converge/keys.js';
import { ConvergeQueue } from './converge/queue.js';
import { runSsh } from './converge/run-ssh.js';
import type { SshTarget } from './converge/types.js';
import { dhcpSegments } from './dhcp/segments.js';
import { startDhcpServer } from './dhcp/server.js';
import { buildApp } from './http/app.js';
import { pinnedAssetPaths, verifyAssets } from './http/boot-assets.js';
import { bootScripts, type BootScript } from './http/boot-script.js';
import { Discovery } from './discovery/service.js';
import { loadInventory } from './inventory/load.js';
import { poolOverlap } from './inventory/pool-overlap.js';
import { InventoryService, type Lint } from './inventory/service.js';
import type { ConvergeFn } from './lifecycle/converge-runner.js';
import { EventLog } from './lifecycle/event-log.js';
import { Installs } from './lifecycle/install.js';
import { Lifecycle } from './lifecycle/lifecycle.js';
import { Views } from './lifecycle/views.js';
import type { Logger } from './log.js';
import { type Clock, systemClock } from './model/clock.js';
import type { Problem } from './model/errors.js';
import type { LeaseBook, SubnetOwnership } from './model/lease.js';
import type { Machine } from './model/machine.js';
import type { Renderers } from './model/renderers.js';
import { STATES } from './model/status.js';
import { createPowerDriver, type PowerDeps } from './power/driver.js';
import { AddressBook } from './reads/address-book.js';
import { Reads } from './reads/reads.js';
import { lintMachine, lintProfile } from './render/lint.js';
import { createRenderers } from './render/renderers.js';
import { lockDataDir } from './store/data-dir-lock.js';
import { isPostgresUrl, openStore } from './store/open.js';
import type { StoreFactory } from './store/store.js';
import { grubContent } from './tftp/grub-content.js';
import { startTftpServer } from './tftp/server.js';

/** What tests swap; kickstand itself runs on the defaults. */
export interface ServiceOptions {
  /** Given kickstand's converger public key, which kickstarts install for root. Default: server/render. */
  renderers?: (convergerPublicKey: string) => Renderers;
  /** Semantic checks of profiles and machines before they are stored. Default: server/render's lint. */
  lint?: Lint;
  clock?: Clock;
  /** A simulator's ipmitool path, or Basic auth for Redfish. */
  power?: Partial<Omit<PowerDeps, 'sink'>>;
  /** Default: the store config.store.url names (SQLite in the data directory unless set); called with config.instance. */
  store?: StoreFactory;
}

/** The one place that builds kickstand from its config: store, reads, lifecycle, HTTP, TFTP and DHCP. */
export async function startService(config: Config, logger: Logger, opts: ServiceOptions = {}) {
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  // One kickstand per SQLite data directory. With PostgreSQL the data directory holds no state:
  // the store holds the instance name on the database instead (a second process with the name
  // refuses to start when the store is opened).
  const lock = isPostgresUrl(config.store.url) ? { release() {} } : lockDataDir(config.dataDir);
  const started: Closable[] = [];
  try {
    return await start(config, logger, opts, lock, started);
  } catch (err) {
    // A start that fails half-way (HTTP answering, the TFTP port taken) must not leave a service
    // running without its boot servers: what started is closed, newest first, and the process ends.
    for (const s of started.reverse()) await Promise.resolve(s.close()).catch((e) => logger.warn({ err: e }, 'closing after a failed start'));
    lock.release();
    throw err;
  }
}

interface Closable {
  close(): unknown;
}

async function start(config: Config, logger: Logger, opts: ServiceOptions, lock: { release(): void }, started: Closable[]) {
  await verifyAssets(config.assets);
  const { token, file: apiTokenFile, created } = await loadApiToken(config.api.token, config.dataDir);
  const subnets = dhcpSegments(config.dhcp);
  const store = await (opts.store ?? (() => openStore(config)))({ instance: config.instance });
  // Instances sharing the store answer each subnet (proxy: the segment) one at a time; taken
  // before anything listens, so a second instance on one without dhcp.standby refuses to start.
  const claims =
    subnets.length && store.claimSubnets
      ? await store.claimSubnets(subnets, { standby: config.dhcp.standby }).catch(async (err) => {
          await store.close();
          throw err;
        })
      : undefined;
  started.push(store);
  if (claims) started.push({ close: () => claims.release() });
  if (config.dhcp.standby && !claims)
    logger.warn({ mode: config.dhcp.mode }, 'dhcp.standby takes effect only with DHCP on PostgreSQL, where instances share the store: this instance answers its subnets itself');
  // A data directory made by someone else (a Docker volume, ./var) may be 0755 with 0644 files.
  await keepPrivate(config.dataDir, logger);
  const clock = opts.clock ?? systemClock;
  const addresses = new AddressBook(undefined, () => clock.now());
  const reads = new Reads(store, addresses);
  const metrics = new Registry();
  collectDefaultMetrics({ register: metrics, prefix: 'kickstand_' });
  const events = new EventLog(store, reads, logger, opts.clock);
  const keys = await loadOrCreateKeyPair(config.dataDir, store.sharedValue && ((own) => store.sharedValue!('converger-ssh-key', own)));

  // The ssh power driver reboots through the converger's key, pinned to the reported host key.
  const sshReboot = async (machine: Machine, command: string, signal: AbortSignal) => {
    const target = await sshTarget(machine);
    if (!target) throw new Error(`${machine.name} has no address to reach over SSH`);
    return runSsh(target, command, { signal, timeoutMs: machine.bmc.timeoutSeconds * 1000 });
  };
  /** The installed host as the converger reaches it: its address, kickstand's key, the pinned host keys. */
  const sshTarget = async (machine: Machine): Promise<SshTarget | undefined> => {
    const [host, status] = await Promise.all([reads.address(machine), reads.status(machine.name)]);
    return host ? { host, port: machine.ssh?.port, user: config.converge.user, privateKey: keys.privateKey, pinnedHostKeys: status?.hostKeys ?? [] } : undefined;
  };
  const lifecycle: Lifecycle = new Lifecycle({
    store,
    reads,
    events,
    config,
    logger,
    clock: opts.clock,
    power: (machine) => createPowerDriver(machine, { sink: events, redfishAuth: machine.bmc.auth, runSsh: sshReboot, secretDirs: config.secrets.dirs, ...opts.power }),
    converge: converger(config, keys.privateKey, events),
    // Bound late: discovery needs the lifecycle, the lifecycle asks it before each reinstall.
    fit: (name) => discovery.fitProblems(name),
  });
  const installs = new Installs(lifecycle, reads, events, config.dhcp.mode !== 'off', opts.clock);
  const views = new Views(reads, events);

  new Gauge({ name: 'kickstand_instance_info', help: 'This instance: its name (config instance) as a label, value 1', labelNames: ['instance'], registers: [metrics] }).set(
    { instance: config.instance },
    1,
  );
  new Gauge({
    name: 'kickstand_events_dropped_total',
    help: 'Events reported by the boot path and not stored: over the per-source rate limit',
    registers: [metrics],
    collect() {
      this.set(events.dropped);
    },
  });
  new Gauge({
    name: 'kickstand_machines',
    help: 'Machines by lifecycle state',
    labelNames: ['state'],
    registers: [metrics],
    async collect() {
      const counts = Object.fromEntries(STATES.map((s) => [s, 0]));
      for (const s of await reads.statuses()) counts[s.state]++;
      for (const [state, n] of Object.entries(counts)) this.set({ state }, n);
    },
  });

  const lint = opts.lint ?? { profile: lintProfile, machine: lintMachine };
  const inventory = new InventoryService(store, reads, lifecycle, {
    profile: lint.profile,
    machine: (m, p) => [...(lint.machine?.(m, p) ?? []), ...poolOverlap(m, config.dhcp)],
  });
  const discovery: Discovery = new Discovery({
    store,
    reads,
    lifecycle,
    installs,
    inventory,
    events,
    settings: config.discovery,
    dhcp: config.dhcp.mode !== 'off',
    // The old box of a slot that still answers SSH with its pinned host key is alive: no takeover.
    alive: async (machine) => {
      const target = await sshTarget(machine);
      return target && (await answersWithPinnedKey(target, 5000)) ? target.host : undefined;
    },
    clock: opts.clock,
  });
  if (existsSync(config.inventory)) {
    const plan = await inventory.apply(await loadInventory(config.inventory), false);
    const changed = plan.filter((p) => p.action !== 'unchanged');
    logger.info({ dir: config.inventory, changed: changed.length, total: plan.length }, 'inventory applied');
  }

  const uncompiled = (problems: Problem[]) => logger.warn({ problems }, 'templates that do not compile: the machines they are for will fail to render until they are fixed');
  const renderers = (opts.renderers ?? ((key) => createRenderers(config, key, uncompiled)))(keys.publicKey);
  /** What the routes are given and what the caller (the CLI, tests) gets back alike. */
  const services = { reads, lifecycle, installs, views, events, inventory };
  const deps = {
    ...services,
    config,
    discovery,
    renderers,
    metrics,
    logger,
    apiToken: token,
    addresses,
    checkStore: () => store.check(),
    dhcpRoles: subnets.length ? () => claims?.roles() ?? { answering: subnets, standby: [] } : undefined,
  };
  const { listen, tls } = config.api;
  const app = await buildApp(deps, listen ? 'boot' : 'all');
  started.push(app);
  await app.listen({ host: config.http.host, port: config.http.port });
  const port = (app.server.address() as { port: number }).port;
  // The operator API on its own listener (HTTPS with api.tls); firmware keeps plain HTTP on http.port.
  const apiApp = listen && (await buildApp(deps, 'api', tls && { cert: await readFile(tls.cert), key: await readFile(tls.key) }));
  if (apiApp) {
    started.push(apiApp);
    await apiApp.listen({ host: listen!.host, port: listen!.port });
  }
  const apiPort = apiApp ? (apiApp.server.address() as { port: number }).port : port;

  const boot: Closable[] = [];
  started.push({
    close: async () => {
      for (const s of [...boot].reverse()) await s.close();
    },
  });
  await startBootServers(config, port, { events, views, leases: store.leases, ownership: claims, addresses, metrics, logger, renderers, script: bootScripts(deps) }, boot);

  await lifecycle.tick();
  const timer = setInterval(() => void lifecycle.tick().catch((err) => logger.error({ err }, 'deadline check failed')), 1000);
  timer.unref();
  const prune = () =>
    Promise.all([
      events
        .prune(clock.now() - config.events.retainDays * 86_400_000)
        .then((n) => n && logger.info({ deleted: n, retainDays: config.events.retainDays }, 'old events deleted'))
        .catch((err) => logger.error({ err }, 'event retention failed')),
      // A discovery token a day past its expiry: its box has rebooted into a fresh one long since.
      store.discoveryTokens.prune(clock.now() - 86_400_000, 10_000).catch((err) => logger.error({ err }, 'discovery token retention failed')),
    ]);
  await prune();
  const retention = setInterval(() => void prune(), 3_600_000);
  retention.unref();

  return {
    app,
    port,
    apiPort,
    apiToken: token,
    apiTokenFile,
    apiTokenCreated: created,
    store,
    ...services,
    publicKey: keys.publicKey,
    async close() {
      clearInterval(timer);
      clearInterval(retention);
      for (const s of boot.reverse()) await s.close();
      await claims?.release();
      await app.close();
      if (apiApp) await apiApp.close();
      await lifecycle.idle();
      lifecycle.close();
      await events.flush();
      await store.close();
      lock.release();
    },
  };
}
export type Service = Awaited<ReturnType<typeof startService>>;

/** The data directory 0700 and what kickstand keeps in it 0600: state, tokens, keys. */
async function keepPrivate(dir: string, logger: Logger): Promise<void> {
  const files = (await readdir(dir)).filter((f) => /^(kickstand\.(db|lock)(-wal|-shm)?|api-token)$/.test(f));
  for (const [path, mode] of [[dir, 0o700] as const, ...files.map((f) => [join(dir, f), 0o600] as const)])
    await chmod(path, mode).catch((err: Error) => logger.warn({ err, path }, 'could not make it private to kickstand'));
}

/** TFTP and DHCP as the config asks, after HTTP (DHCP's default boot URL needs its port). */
async function startBootServers(
  config: Config,
  httpPort: number,
  deps: {
    events: EventLog;
    views: Views;
    leases: LeaseBook;
    ownership?: SubnetOwnership;
    addresses: AddressBook;
    metrics: Registry;
    logger: Logger;
    renderers: Renderers;
    script: BootScript;
  },
  /** Each server as it starts: should a later one fail, the caller closes those. */
  servers: Closable[],
): Promise<void> {
  const { events, addresses, logger } = deps;
  // A GRUB configuration served over TFTP names kickstand's HTTP base (kickstart URLs): publicUrl,
  // else the address DHCP answers from, else the address TFTP is bound to; none, and GRUB's
  // per-MAC file is not found (said once in the log).
  let dhcpAddress: string | undefined;
  const tftpAddress = /^[0-9.]+$/.test(config.tftp.host) && config.tftp.host !== '0.0.0.0' ? config.tftp.host : undefined;
  let warned = false;
  const httpBase = () => {
    const address = dhcpAddress ?? tftpAddress;
    const base = config.http.publicUrl ?? (address && `http://${address}:${httpPort}`);
    if (!base && !warned) logger.warn('GRUB asked for its configuration over TFTP: set http.publicUrl (or run DHCP, or bind TFTP to one address) so it can name kickstand');
    warned ||= !base;
    return base;
  };
  if (config.tftp.enabled)
    servers.push(
      await startTftpServer({
        resolveIp: (ip) => {
          const mac = addresses.macAt(ip);
          return mac ? { mac } : undefined;
        },
        root: config.tftp.root,
        symlinkDirs: config.tftp.symlinkDirs,
        host: config.tftp.host,
        port: config.tftp.port,
        maxTransfers: config.tftp.maxTransfers,
        maxTransfersPerAddress: config.tftp.maxTransfersPerAddress,
        retransmitMs: config.tftp.timeoutSeconds * 1000,
        retries: config.tftp.retries,
        assets: { dir: config.assets.dir, paths: pinnedAssetPaths(config.assets) },
        generate: grubContent({
          lookup: () => deps.renderers.grubLookup(),
          perMac: async (mac, ip) => {
            const base = httpBase();
            return base && deps.script('grub', { mac, ip, base });
          },
        }),
        sink: events,
        logger: logger.child({ component: 'tftp' }),
      }),
    );
  if (config.dhcp.mode !== 'off') {
    const dhcp = await startDhcpServer({
      config: config.dhcp,
      publicUrl: config.http.publicUrl,
      httpPort,
      tftpServer: config.dhcp.tftpServer,
      bootFiles: Object.fromEntries(Object.entries(config.dhcp.bootFiles).filter(([, v]) => v)),
      directory: deps.views,
      leases: deps.leases,
      ownership: deps.ownership,
      addresses,
      sink: events,
      logger: logger.child({ component: 'dhcp' }),
      registry: deps.metrics,
    });
    dhcpAddress = dhcp.serverAddress || undefined;
    servers.push(dhcp);
  }
}

/**
 * The converger as the lifecycle calls it: bounded across hosts (a rack reinstalled at once
 * must not open a hundred SSH sessions), logging in with kickstand's key to the pinned host key.
 */
function converger(config: Config, privateKey: string, events: EventLog): ConvergeFn {
  const queue = new ConvergeQueue(config.converge.concurrency);
  return ({ mode, machine, profile, hostKeys, address, deadline, changedBefore }) =>
    queue.run(async () => {
      if (!profile.converge.length) return { ok: true, report: { machine: machine.name, mode, steps: [] } };
      if (!address) return { ok: false, reason: 'no address for the host: give the machine an ipv4 or let kickstand DHCP hand out its lease' };
      if (!hostKeys.length) return { ok: false, reason: 'the installer reported no host key: refusing to trust a key on first use' };
      const report = await runConverge({
        mode,
        host: address,
        port: machine.ssh?.port,
        user: config.converge.user,
        privateKey,
        pinnedHostKeys: hostKeys,
        steps: profile.converge,
        context: { machine, profile, params: machine.params },
        sink: events,
        machine: machine.name,
        deadline,
        stepTimeoutSeconds: config.converge.stepTimeoutSeconds,
        changedBefore,
      });
      return report.ok
        ? { ok: true, report }
        : { ok: false, report, reason: report.error?.message ?? `converge step(s) failed: ${report.steps.filter((s) => s.status === 'failed').map((s) => s.name).join(', ')}` };
    });
}
