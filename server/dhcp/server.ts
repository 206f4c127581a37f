import { execFileSync } from 'node:child_process';
import type { Socket } from 'node:dgram';
import { networkInterfaces } from 'node:os';
import { Counter, type Registry } from 'prom-client';
import type { Config } from '../config/schema.js';
import type { EventSink, MachineDirectory } from '../lifecycle/types.js';
import type { LeaseRepo } from '../store/store.js';
import { openDeviceSockets } from './bind-device.js';
import { DEFAULT_BOOT_FILES, type BootFiles } from './classify.js';
import { serializeDhcp } from './codec.js';
import { createHandler, type Exchange } from './handler.js';
import { LeaseTable } from './lease-table.js';
import { messageTypeName, Opt } from './options.js';
import { Pool } from './pool.js';
import type { Destination } from './reply.js';

/**
 * The socket shell around the pure handler: receive, queue, decide, persist leases for the
 * whole burst in one transaction, then send and report. Packets are decided one after the
 * other (the allocator must not hand one address to two clients), bursts are committed
 * together (one fsync for many leases).
 */

export interface DhcpLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface DhcpServerOptions {
  config: Config['dhcp'];
  /** Base URL machines use for HTTP boot and iPXE scripts. */
  publicUrl: string;
  /** next-server (siaddr) for TFTP; default: the server address. */
  tftpServer?: string;
  bootFiles?: Partial<BootFiles>;
  directory: MachineDirectory;
  leases: LeaseRepo;
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
  /** MAC of the client last seen using this address (for TFTP attribution). */
  ipToMac(ip: string): string | undefined;
}

/** Beyond this many waiting packets a flood is shed at the door instead of growing memory. */
const MAX_QUEUE = 8192;
/** Packets decided per lease commit. */
const BATCH = 512;
const MAX_KNOWN_IPS = 65_536;

const silent: DhcpLogger = { info() {}, warn() {}, error() {} };

/**
 * libuv lists only interfaces that are up *and* have carrier, but a PXE interface may start
 * without one (switch port still negotiating, bridge with no port yet), so iproute2 is asked
 * when Node does not see it.
 */
function interfaceAddress(iface: string): string {
  const seen = networkInterfaces()[iface]?.find((a) => a.family === 'IPv4')?.address;
  if (seen) return seen;
  try {
    const out = JSON.parse(execFileSync('ip', ['-j', '-4', 'addr', 'show', 'dev', iface], { encoding: 'utf8' })) as Array<{ addr_info?: Array<{ local?: string }> }>;
    const local = out[0]?.addr_info?.[0]?.local;
    if (local) return local;
  } catch {
    // fall through to the error below
  }
  throw new Error(`dhcp.interface ${iface} has no IPv4 address; set dhcp.serverAddress or configure the interface`);
}

export async function startDhcpServer(opts: DhcpServerOptions): Promise<DhcpServer> {
  const { config, sink } = opts;
  const log = opts.logger ?? silent;
  const stats: DhcpStats = { received: 0, replies: {}, dropped: {}, queued: 0 };
  const ipMac = new Map<string, string>();
  const inert: DhcpServer = { serverAddress: '', close: async () => {}, stats: () => stats, ipToMac: () => undefined };
  if (config.mode === 'off') return inert;
  if (!config.interface) throw new Error('dhcp.interface is required when dhcp.mode is not off');
  const mode = config.mode;

  const serverAddress = config.serverAddress ?? interfaceAddress(config.interface);
  const pools = config.subnets.map((s) => new Pool(s));
  if (mode === 'authoritative' && pools.length === 0)
    throw new Error('authoritative DHCP needs at least one dhcp.subnets entry');
  const table = mode === 'authoritative' ? await LeaseTable.load(opts.leases) : undefined;

  const registers = opts.registry ? [opts.registry] : [];
  const mRequests = new Counter({ name: 'kickstand_dhcp_requests_total', help: 'DHCP requests received, by message type', labelNames: ['type'], registers });
  const mReplies = new Counter({ name: 'kickstand_dhcp_replies_total', help: 'DHCP replies sent, by message type', labelNames: ['type'], registers });
  const mDropped = new Counter({ name: 'kickstand_dhcp_dropped_total', help: 'DHCP packets not answered, by reason', labelNames: ['reason'], registers });
  const drop = (reason: string) => {
    stats.dropped[reason] = (stats.dropped[reason] ?? 0) + 1;
    mDropped.inc({ reason });
  };

  const handle = createHandler({
    mode,
    serverAddress,
    tftpServer: opts.tftpServer ?? serverAddress,
    publicUrl: opts.publicUrl,
    bootFiles: { ...DEFAULT_BOOT_FILES, ...opts.bootFiles },
    unknownMachines: config.unknownMachines,
    ports: { server: config.port, proxy: config.proxyPort, client: config.clientPort },
    directory: opts.directory,
    pools,
    leases: table,
  });

  const ports = mode === 'proxy' && config.proxyPort !== config.port ? [config.port, config.proxyPort] : [config.port];
  const sockets = await openDeviceSockets(config.interface, ports);
  const byPort = new Map(sockets.map((s) => [s.address().port, s]));

  type Pending = { buf: Buffer; socket: Socket; localPort: number; from: Destination };
  let queue: Pending[] = [];
  let draining: Promise<void> | undefined;
  let closed = false;

  const learn = (ip: string, mac: string) => {
    ipMac.delete(ip);
    ipMac.set(ip, mac);
    if (ipMac.size > MAX_KNOWN_IPS) ipMac.delete(ipMac.keys().next().value!);
  };

  async function decide(p: Pending): Promise<Exchange | undefined> {
    try {
      return await handle(p.buf, p.localPort, p.from);
    } catch (err) {
      // A bug in a decision must cost one packet, never the server.
      log.error({ err, from: p.from }, 'dhcp handler failed');
      drop('internal-error');
      return undefined;
    }
  }

  async function drain(): Promise<void> {
    while (queue.length > 0 && !closed) {
      const batch = queue.slice(0, BATCH);
      queue = queue.slice(batch.length);
      stats.queued = queue.length;
      const out: Array<{ socket: Socket; ex: Exchange }> = [];
      for (const p of batch) {
        const ex = await decide(p);
        if (!ex) continue;
        if (ex.request) mRequests.inc({ type: ex.request });
        if (ex.dropped) drop(ex.dropped);
        if (ex.learned) learn(ex.learned.ip, ex.learned.mac);
        out.push({ socket: p.socket, ex });
      }
      const dirty = table?.takeDirty() ?? [];
      if (dirty.length > 0) {
        try {
          await opts.leases.putMany(dirty);
        } catch (err) {
          // Not durable, so not promised: no OFFER/ACK of this burst goes out.
          log.error({ err, leases: dirty.length }, 'dhcp lease commit failed; burst not answered');
          for (const { ex } of out) if (ex.replies.length) drop('store-error');
          continue;
        }
      }
      for (const { socket, ex } of out) {
        for (const r of ex.replies) {
          const type = messageTypeName(r.packet.options.get(Opt.MESSAGE_TYPE)?.[0]) ?? 'unknown';
          socket.send(serializeDhcp(r.packet), r.to.port, r.to.address, (err) => {
            if (err) {
              log.warn({ err, to: r.to }, 'dhcp send failed');
              drop('send-error');
            }
          });
          stats.replies[type] = (stats.replies[type] ?? 0) + 1;
          mReplies.inc({ type });
        }
        if (ex.event) sink.report(ex.event);
      }
    }
  }

  for (const [localPort, socket] of byPort) {
    socket.on('error', (err) => log.error({ err, port: localPort }, 'dhcp socket error'));
    socket.on('message', (buf, rinfo) => {
      stats.received++;
      if (queue.length >= MAX_QUEUE) return drop('queue-full');
      queue.push({ buf, socket, localPort, from: { address: rinfo.address, port: rinfo.port } });
      stats.queued = queue.length;
      draining ??= drain().finally(() => (draining = undefined));
    });
  }
  log.info({ mode, interface: config.interface, serverAddress, ports }, 'dhcp listening');

  return {
    serverAddress,
    stats: () => stats,
    ipToMac: (ip) => ipMac.get(ip),
    async close() {
      closed = true;
      await draining;
      await Promise.all([...byPort.values()].map((s) => new Promise<void>((ok) => s.close(() => ok()))));
    },
  };
}
