import type { Socket } from 'node:dgram';
import { Counter, type Registry } from 'prom-client';
import type { Config } from '../config/schema.js';
import type { EventSink } from '../model/events.js';
import type { AddressSink, MachineDirectory } from '../model/boot.js';
import type { LeaseBook, SubnetOwnership } from '../model/lease.js';
import { openDeviceSockets } from './bind-device.js';
import { DEFAULT_BOOT_FILES, type BootFiles } from './classify.js';
import { interfaceAddress } from './interface-address.js';
import { serializeDhcp, type DhcpPacket } from './codec.js';
import { createHandler, type Exchange } from './handler.js';
import { LeaseTable } from './lease-table.js';
import { MessageType, messageTypeName, Opt } from './options.js';
import { Pool } from './pool.js';
import { PrefetchingDirectory } from './prefetch.js';
import type { Destination } from './reply.js';
import { dhcpSegments } from './segments.js';

/**
 * The socket shell around the pure handler: receive, queue, decide, send, report. Packets are
 * decided one after the other (the allocator must not hand one address to two clients); lease
 * changes are committed in groups (one fsync for many leases) and ACKs wait for theirs.
 */

export interface DhcpLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface DhcpServerOptions {
  config: Config['dhcp'];
  /** Base URL machines use for HTTP boot and iPXE scripts; default http://SERVER_ADDRESS:httpPort. */
  publicUrl?: string;
  /** kickstand's HTTP port, for the default publicUrl. */
  httpPort?: number;
  /** next-server (siaddr) for TFTP; default: the server address. */
  tftpServer?: string;
  bootFiles?: Partial<BootFiles>;
  directory: MachineDirectory;
  leases: LeaseBook;
  /** Several instances on one store: which subnets (proxy: the segment, segments.ts) this one answers (absent: all of them). */
  ownership?: SubnetOwnership;
  /** Told which MAC uses which address, so TFTP and HTTP downloads land on the machine's record. */
  addresses?: AddressSink;
  sink: EventSink;
  logger?: DhcpLogger;
  registry?: Registry;
}

export interface DhcpStats {
  received: number;
  replies: Record<string, number>;
  dropped: Record<string, number>;
  queued: number;
}

export interface DhcpServer {
  readonly serverAddress: string;
  close(): Promise<void>;
  stats(): DhcpStats;
}

/** Beyond this many waiting packets a flood is shed at the door instead of growing memory. */
const MAX_QUEUE = 8192;
const COMMIT_PAUSE_MS = 2;
/** Directory lookups started ahead of their packet's turn (prefetch.ts), at most. */
const LOOKAHEAD = 8;

const silent: DhcpLogger = { info() {}, warn() {}, error() {} };

export async function startDhcpServer(opts: DhcpServerOptions): Promise<DhcpServer> {
  const { config, sink } = opts;
  const log = opts.logger ?? silent;
  const stats: DhcpStats = { received: 0, replies: {}, dropped: {}, queued: 0 };
  const inert: DhcpServer = { serverAddress: '', close: async () => {}, stats: () => stats };
  if (config.mode === 'off') return inert;
  if (!config.interface) throw new Error('dhcp.interface is required when dhcp.mode is not off');
  const mode = config.mode;

  const serverAddress = config.serverAddress ?? interfaceAddress(config.interface);
  const pools = config.subnets.map((s) => new Pool(s));
  if (mode === 'authoritative' && pools.length === 0)
    throw new Error('authoritative DHCP needs at least one dhcp.subnets entry');
  const { ownership } = opts;
  /** Subnets whose leases the table has as the store had them when this instance took the subnet. */
  const loaded = new Set(config.subnets.map((s) => s.cidr).filter((cidr) => !ownership || ownership.answers(cidr)));
  const table = mode === 'authoritative' ? new LeaseTable() : undefined;
  /** The store's leases into the table; those of MACs not in the inventory count against the unknown-machine caps like new ones. */
  async function load(t: LeaseTable): Promise<void> {
    t.reset(await opts.leases.list());
    if (config.unknownMachines === 'ignore') return;
    const now = Date.now();
    for (const lease of t.all()) {
      if (await opts.directory.byMac(lease.mac).catch(() => 'unreadable')) continue;
      t.countUnknown(lease, { client: lease.clientId ? `client-id ${lease.clientId}` : `mac ${lease.mac}` }, now);
    }
  }
  if (table) await load(table);

  const registers = opts.registry ? [opts.registry] : [];
  const mRequests = new Counter({ name: 'kickstand_dhcp_requests_total', help: 'DHCP requests received, by message type', labelNames: ['type'], registers });
  const mReplies = new Counter({ name: 'kickstand_dhcp_replies_total', help: 'DHCP replies sent, by message type', labelNames: ['type'], registers });
  const mDropped = new Counter({ name: 'kickstand_dhcp_dropped_total', help: 'DHCP packets not answered, by reason', labelNames: ['reason'], registers });
  const drop = (reason: string) => {
    stats.dropped[reason] = (stats.dropped[reason] ?? 0) + 1;
    mDropped.inc({ reason });
  };

  const directory = new PrefetchingDirectory(opts.directory);
  // A standby of every subnet hears broadcasts it drops before any lookup: it starts none.
  const segments = !ownership ? [] : mode === 'proxy' ? dhcpSegments(config) : config.subnets.map((s) => s.cidr);
  const answersSome = () => !ownership || segments.some((s) => ownership.answers(s));
  const handle = createHandler({
    mode,
    serverAddress,
    tftpServer: opts.tftpServer ?? serverAddress,
    publicUrl: opts.publicUrl ?? `http://${serverAddress}:${opts.httpPort ?? 8080}`,
    bootFiles: { ...DEFAULT_BOOT_FILES, ...opts.bootFiles },
    unknownMachines: config.unknownMachines,
    ports: { server: config.port, proxy: config.proxyPort, client: config.clientPort },
    directory,
    pools,
    leases: table,
    answers: ownership && (mode === 'proxy' ? (segment) => ownership.answers(segment) : (subnet) => loaded.has(subnet) && ownership.answers(subnet)),
    segment: ownership && mode === 'proxy' ? segments[0] : undefined,
    relays: config.relays,
    limits: { maxLeasesPerClient: config.maxLeasesPerClient, unknownLeaseShare: config.unknownLeaseShare },
  });

  const ports = mode === 'proxy' && config.proxyPort !== config.port ? [config.port, config.proxyPort] : [config.port];
  const sockets = await openDeviceSockets(config.interface, ports);
  const byPort = new Map(sockets.map((s) => [s.address().port, s]));

  /** started: the packet's directory lookup, under way before its turn (null: none was started). */
  type Pending = { buf: Buffer; socket: Socket; localPort: number; from: Destination; started?: ReturnType<PrefetchingDirectory['arrived']> | null };
  /** A packet, or the reload of a subnet just taken over, decided in the order they came. */
  let queue: Array<Pending | { takeOver: string }> = [];
  let draining: Promise<void> | undefined;
  let closed = false;
  /** ACKs waiting for the commit that makes their lease durable. */
  let acks: Array<{ version: number; mac: string; send: () => void }> = [];
  let committing: Promise<void> | undefined;
  let lazyCommit: NodeJS.Timeout | undefined;

  function send(socket: Socket, packet: DhcpPacket, to: Destination): void {
    const type = messageTypeName(packet.options.get(Opt.MESSAGE_TYPE)?.[0]) ?? 'unknown';
    socket.send(serializeDhcp(packet), to.port, to.address, (err) => {
      if (err) {
        log.warn({ err, to }, 'dhcp send failed');
        drop('send-error');
      }
    });
    stats.replies[type] = (stats.replies[type] ?? 0) + 1;
    mReplies.inc({ type });
  }

  /**
   * Group commit: one putMany for every lease change since the last one, then the ACKs it
   * covers. Between commits the event loop reads and decides more packets, so under load each
   * fsync carries many leases. OFFERs do not wait: an offer is not a promise (RFC 2131 §4.3.1)
   * and a lost one only costs the client a NAK and a new DISCOVER.
   */
  async function commitLoop(): Promise<void> {
    while (table && !closed) {
      const version = table.version;
      const dirty = table.takeDirty();
      if (dirty.length === 0 && acks.length === 0) return;
      let ok = true;
      const refused = new Set<string>();
      if (dirty.length > 0) {
        try {
          for (const holder of await opts.leases.putMany(dirty)) {
            // Another instance gave the address while this one was not answering its subnet.
            const lost = dirty.find((l) => l.ip === holder.ip && l.mac !== holder.mac);
            if (lost) refused.add(lost.mac);
            table.adopt(holder);
            log.warn({ ip: holder.ip, holder: holder.mac, refused: lost?.mac }, 'dhcp lease refused by the store: the address is held by another MAC; its ACK is withheld');
          }
        } catch (err) {
          ok = false;
          log.error({ err, leases: dirty.length }, 'dhcp lease commit failed; ACKs withheld');
        }
      }
      const ready = acks.filter((a) => a.version <= version);
      acks = acks.filter((a) => a.version > version);
      for (const a of ready) (!ok ? drop('store-error') : refused.has(a.mac) ? drop('lease-held') : a.send());
      // A synchronous store blocks the loop while it syncs, and libuv reads at most 32
      // datagrams per loop turn: a short pause lets several turns read and decide the backlog,
      // so the next commit carries it all.
      await new Promise((r) => setTimeout(r, COMMIT_PAUSE_MS));
    }
  }
  function commitSoon(urgent: boolean): void {
    if (committing) return;
    if (!urgent) {
      lazyCommit ??= setTimeout(() => ((lazyCommit = undefined), commitSoon(true)), 100);
      return;
    }
    clearTimeout(lazyCommit);
    lazyCommit = undefined;
    committing = commitLoop().finally(() => {
      committing = undefined;
      if (!closed) commitSoonIfDirty();
    });
  }
  function commitSoonIfDirty(): void {
    if (acks.length > 0) commitSoon(true);
    else if (table?.hasDirty()) commitSoon(false);
  }

  async function decide(p: Pending): Promise<void> {
    let ex: Exchange;
    try {
      ex = await handle(p.buf, p.localPort, p.from);
    } catch (err) {
      // A bug in a decision must cost one packet, never the server.
      log.error({ err, from: p.from }, 'dhcp handler failed');
      drop('internal-error');
      return;
    } finally {
      directory.decided(p.started ?? undefined);
    }
    if (ex.request) mRequests.inc({ type: ex.request });
    if (ex.dropped) drop(ex.dropped);
    if (ex.learned) opts.addresses?.learn(ex.learned.ip, ex.learned.mac);
    for (const r of ex.replies) {
      const isAck = r.packet.options.get(Opt.MESSAGE_TYPE)?.[0] === MessageType.ACK && r.packet.yiaddr !== '0.0.0.0';
      if (table && isAck) acks.push({ version: table.version, mac: ex.learned?.mac ?? '', send: () => send(p.socket, r.packet, r.to) });
      else send(p.socket, r.packet, r.to);
    }
    if (ex.event) sink.report(ex.event);
    commitSoonIfDirty();
  }

  /** Everything of this instance's committed, then the store's leases read afresh: the holder before may have given any address. */
  async function takeOver(subnet: string): Promise<void> {
    if (!table || !ownership?.answers(subnet)) return;
    try {
      while (committing || table.hasDirty() || acks.length) {
        commitSoon(true);
        await committing;
      }
      await load(table);
      loaded.add(subnet);
      log.info({ subnet }, 'dhcp: answering the subnet, leases loaded from the store');
    } catch (err) {
      log.error({ err, subnet }, 'dhcp: could not load the leases of a subnet taken over; trying again');
      setTimeout(() => enqueue({ takeOver: subnet }), 1000).unref();
    }
  }
  ownership?.onChange((subnet, answering, reason) => {
    loaded.delete(subnet);
    if (answering && table) enqueue({ takeOver: subnet });
    else if (answering) log.info({ segment: subnet }, 'dhcp: answering ProxyDHCP on the segment');
    else log.warn({ subnet, reason }, 'dhcp: not answering the subnet (another instance answers it now, or it will once this one is cut off)');
    sink.report({
      kind: 'dhcp',
      level: answering ? 'info' : 'warn',
      message: answering ? `answering DHCP for ${subnet}` : `no longer answering DHCP for ${subnet}: ${reason ?? 'lock released'}`,
      data: { subnet, answering, reason },
    });
  });
  // Taken between the load above and the listener.
  for (const cidr of config.subnets.map((s) => s.cidr)) if (ownership?.answers(cidr) && !loaded.has(cidr)) enqueue({ takeOver: cidr });

  function enqueue(item: Pending | { takeOver: string }): void {
    queue.push(item);
    stats.queued = queue.length;
    lookAhead();
    draining ??= drain().finally(() => (draining = undefined));
  }

  /**
   * The directory lookups of the next LOOKAHEAD packets are started before their turn, no more:
   * a flood of thousands must not take every connection of a store's pool, which the lease
   * commits that release ACKs need too. A standby of every subnet starts none.
   */
  function lookAhead(): void {
    const answering = answersSome();
    for (let i = 0; i < Math.min(LOOKAHEAD, queue.length); i++) {
      const p = queue[i];
      if ('takeOver' in p || p.started !== undefined) continue;
      p.started = answering ? (directory.arrived(p.buf) ?? null) : null;
    }
  }

  async function drain(): Promise<void> {
    let n = 0;
    while (queue.length > 0 && !closed) {
      const p = queue.shift()!;
      stats.queued = queue.length;
      lookAhead();
      if ('takeOver' in p) await takeOver(p.takeOver);
      else await decide(p);
      // Let the commit loop and the socket run during long bursts.
      if (++n % 64 === 0) await new Promise((r) => setImmediate(r));
    }
  }

  for (const [localPort, socket] of byPort) {
    socket.on('error', (err) => log.error({ err, port: localPort }, 'dhcp socket error'));
    socket.on('message', (buf, rinfo) => {
      stats.received++;
      if (queue.length >= MAX_QUEUE) return drop('queue-full');
      enqueue({ buf, socket, localPort, from: { address: rinfo.address, port: rinfo.port } });
    });
  }
  log.info({ mode, interface: config.interface, serverAddress, ports }, 'dhcp listening');

  return {
    serverAddress,
    stats: () => stats,
    async close() {
      closed = true;
      clearTimeout(lazyCommit);
      await draining;
      await committing;
      const rest = table?.takeDirty() ?? [];
      if (rest.length) await opts.leases.putMany(rest).catch((err) => log.error({ err }, 'dhcp final lease commit failed'));
      await Promise.all([...byPort.values()].map((s) => new Promise<void>((ok) => s.close(() => ok()))));
    },
  };
}
