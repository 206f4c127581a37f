/**
 * The TFTP server's socket shell: the well-known port, the table of running transfers with its
 * bounds, stats and event reporting. Decisions come from request.ts and options.ts; bytes from a
 * generator callback or the root directory. The transfers themselves (their sockets, the
 * retransmission clock, sender.ts) run in a thread of their own (transfer-thread.ts).
 */
import dgram from 'node:dgram';
import type { BootEvent, EventLevel, EventSink } from '../model/events.js';
import { dropSource, sourceSize, type BodySource } from './body-source.js';
import { netasciiExtra } from './netascii.js';
import { negotiate } from './options.js';
import { encodeError, ErrorCode } from './packet.js';
import { decideRequest } from './request.js';
import { RateLimiter } from '../model/rate-limit.js';
import { RootFiles } from './root-files.js';
import type { TransferResult } from './transfer.js';
import { TransferThread } from './transfer-thread.js';
import type { TransferOrder } from './transfer-worker.js';

export interface Remote {
  address: string;
  port: number;
}

export interface TftpLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface TftpServerOptions {
  root: string;
  host?: string;
  /** 0 = ephemeral (tests). */
  port: number;
  maxTransfers: number;
  /** Transfers one client address may run at once, so that one host cannot take every slot. */
  maxTransfersPerAddress: number;
  /**
   * Pinned boot assets (assets.files: shim, GRUB, and the kernels and initrds GRUB loads over
   * TFTP), served at their path under `dir`, before the root. Only the listed paths: the rest of
   * the assets directory is not TFTP's to hand out.
   */
  assets?: { dir: string; paths: ReadonlySet<string> };
  /** Consulted before the filesystem with the root-relative path; undefined = not generated. */
  generate?: (path: string, remote: Remote) => Promise<Buffer | undefined>;
  /** IP → MAC (and machine) from the DHCP exchange, to put transfers on the machine's record. */
  resolveIp?: (ip: string) => { mac: string; machine?: string } | undefined;
  sink: EventSink;
  logger?: TftpLogger;
  /** See RootFilesOptions.symlinkDirs (Debian's /usr/lib/ipxe/ipxe.efi points into /boot). */
  symlinkDirs?: string[];
  /** Retransmission timeout when the client asks none (RFC 2349 `timeout`); default 1000. */
  retransmitMs?: number;
  /** Retransmissions of an unanswered window before the transfer ends; default 5. */
  retries?: number;
  maxBlksize?: number;
  maxWindowsize?: number;
  cacheMaxFileBytes?: number;
  cacheMaxTotalBytes?: number;
}

export interface TftpStats {
  /** Datagrams that reached the request port. */
  received: number;
  active: number;
  started: number;
  completed: number;
  /** Transfers the client ended after reading the OACK, as PXE ROMs do to learn tsize. */
  probes: number;
  /** Transfers whose every block went out but whose final ACK never came (retries spent, or the client's port closed). */
  unacknowledged: number;
  failed: number;
  /** Requests answered with an ERROR (not found, traversal, write, bad mode). */
  refused: number;
  /** Datagrams dropped: malformed, or not a request on the request port, or junk on a transfer port. */
  dropped: number;
  /** Requests answered with an ERROR because maxTransfers were running. */
  busy: number;
  /** Requests answered with an ERROR because their address ran maxTransfersPerAddress. */
  addressLimited: number;
  /** Requests dropped, unanswered, because two transfers from that client port were running; the client's own retry gets a later slot. */
  portLimited: number;
  /** A client's retransmitted request for a transfer that is already running. */
  duplicateRequests: number;
  bytesSent: number;
  retransmissions: number;
  cacheHits: number;
  cacheMisses: number;
}

export interface TftpServer {
  port: number;
  close(): Promise<void>;
  stats(): TftpStats;
}

const MAX_PER_CLIENT_PORT = 2;

function count(map: Map<string, number>, key: string, delta: number): void {
  const n = (map.get(key) ?? 0) + delta;
  if (n > 0) map.set(key, n);
  else map.delete(key);
}

/** IPv4 clients on a dual-stack socket appear as ::ffff:a.b.c.d; events want the plain address. */
function plainIp(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

export async function startTftpServer(options: TftpServerOptions): Promise<TftpServer> {
  const host = options.host ?? '0.0.0.0';
  const type = host.includes(':') ? 'udp6' : 'udp4';
  const files = new RootFiles(options);
  const assetFiles = options.assets && new RootFiles({ ...options, root: options.assets.dir, symlinkDirs: [] });
  const retransmitMs = options.retransmitMs ?? 1000;
  const retries = options.retries ?? 5;
  const limits = { maxBlksize: options.maxBlksize ?? 65464, maxWindowsize: options.maxWindowsize ?? 64 };
  /** Keyed by client address, port and request; a slot is taken before any await so bounds hold under bursts. */
  const transfers = new Set<string>();
  /** Running transfers per client address and port: one, plus one for a PXE size probe still winding down. */
  const perClient = new Map<string, number>();
  /** Running transfers per client address (maxTransfersPerAddress). */
  const perAddress = new Map<string, number>();
  const clientOf = (remote: Remote) => `${remote.address}|${remote.port}`;
  function take(key: string, remote: Remote): void {
    transfers.add(key);
    count(perClient, clientOf(remote), 1);
    count(perAddress, remote.address, 1);
  }
  function release(key: string, remote: Remote): void {
    if (!transfers.delete(key)) return;
    count(perClient, clientOf(remote), -1);
    count(perAddress, remote.address, -1);
  }
  const counters = { received: 0, started: 0, completed: 0, probes: 0, unacknowledged: 0, failed: 0, refused: 0, dropped: 0, busy: 0, addressLimited: 0, portLimited: 0, duplicateRequests: 0, bytesSent: 0, retransmissions: 0 };
  /** Refusal events and busy warnings per client address: enough to diagnose, too few to flood. */
  const noisy = new RateLimiter(20, 10_000);
  // Room for a rack's worth of requests arriving at once (the kernel caps it at net.core.rmem_max).
  const socket = dgram.createSocket({ type, recvBufferSize: 1 << 20 });

  function report(remote: Remote, level: EventLevel, message: string, data: Record<string, unknown>): void {
    const ip = plainIp(remote.address);
    const who = options.resolveIp?.(ip);
    const event: BootEvent = { kind: 'tftp', level, message, ip, data: { ...data, port: remote.port } };
    if (who) {
      event.mac = who.mac;
      if (who.machine) event.machine = who.machine;
    }
    try {
      options.sink.report(event);
    } catch (err) {
      options.logger?.warn({ err }, 'tftp: event sink threw');
    }
  }

  function refuse(remote: Remote, code: ErrorCode, message: string, filename: string | undefined, counter: 'refused' | 'busy' | 'addressLimited' = 'refused'): void {
    counters[counter]++;
    socket.send(encodeError(code, message), remote.port, remote.address);
    if (!noisy.allow(remote.address, Date.now())) return;
    if (counter !== 'refused') options.logger?.warn({ ip: remote.address, maxTransfers: options.maxTransfers, maxTransfersPerAddress: options.maxTransfersPerAddress }, `tftp: request refused: ${message}`);
    const shown = JSON.stringify((filename ?? '').slice(0, 128));
    report(remote, 'warn', `TFTP refused ${shown}: ${message}`, { file: filename?.slice(0, 128), code });
  }

  async function content(path: string, remote: Remote, netascii: boolean): Promise<{ body: BodySource } | { code: ErrorCode; message: string }> {
    const generated = options.generate && (await options.generate(path, { address: plainIp(remote.address), port: remote.port }));
    if (!generated) return (assetFiles && options.assets!.paths.has(path) ? assetFiles : files).open(path, netascii ? 'netascii' : 'octet');
    if (!netascii) return { body: { kind: 'memory', bytes: generated } };
    return { body: { kind: 'memory', bytes: generated, netasciiSize: generated.length + netasciiExtra(generated) } };
  }

  async function serve(key: string, remote: Remote, path: string, netascii: boolean, requested: Map<string, string>): Promise<void> {
    type Found = Awaited<ReturnType<typeof content>>;
    let found: Found;
    let timer: NodeJS.Timeout | undefined;
    // A generator that never answers must not hold a slot longer than a client that stopped answering.
    const timedOut: Found = { code: ErrorCode.NOT_DEFINED, message: 'Timed out preparing the file' };
    const pending = content(path, remote, netascii);
    try {
      found = await Promise.race([pending, new Promise<Found>((resolve) => (timer = setTimeout(() => resolve(timedOut), (retries + 1) * retransmitMs)))]);
    } catch (err) {
      options.logger?.warn({ err, path }, 'tftp: content failed');
      found = { code: ErrorCode.NOT_DEFINED, message: 'Cannot read file' };
    } finally {
      clearTimeout(timer);
    }
    if (found === timedOut) pending.then((late) => 'body' in late && dropSource(late.body), () => {});
    if (closing) {
      if ('body' in found) dropSource(found.body);
      return;
    }
    if (!('body' in found)) {
      release(key, remote);
      return refuse(remote, found.code, found.message, path);
    }
    const body = found.body;
    const size = sourceSize(body);
    // Like tftpd-hpa, no tsize in netascii: the size on disk is not what the client will write.
    const negotiated = negotiate(requested, size, limits, { tsize: !netascii });
    counters.started++;
    report(remote, 'info', `TFTP ${path} started`, { file: path, size, blksize: negotiated.blksize, windowsize: negotiated.windowsize });
    const order: TransferOrder = {
      remote,
      host,
      type,
      body,
      oack: negotiated.oack,
      sender: { blksize: negotiated.blksize, windowsize: negotiated.windowsize, timeoutMs: negotiated.timeoutMs ?? retransmitMs, retries },
    };
    thread.start(order, (result) => finish(key, remote, path, result));
  }

  function finish(key: string, remote: Remote, path: string, result: TransferResult): void {
    release(key, remote);
    counters.retransmissions += result.retransmissions;
    const data = { file: path, bytes: result.bytes, ms: result.ms, retransmissions: result.retransmissions };
    switch (result.outcome) {
      case 'sent':
        counters.completed++;
        counters.bytesSent += result.bytes;
        return report(remote, 'info', `TFTP ${path} sent ${result.bytes} bytes in ${result.ms} ms`, data);
      case 'probe':
        counters.probes++;
        // Info, not debug: the same shape is a client that gave up on our OACK, which someone may need to see.
        return report(remote, 'info', `TFTP ${path} ended by the client after the OACK (size probe?): ${result.reason}`, { ...data, reason: result.reason });
      case 'unacknowledged':
        counters.unacknowledged++;
        // Info: a firmware that jumps into the file before its final ACK is out looks just like this.
        return report(remote, 'info', `TFTP ${path} sent ${result.bytes} bytes in ${result.ms} ms, the final ACK never came: ${result.reason}`, { ...data, reason: result.reason });
      case 'failed':
        counters.failed++;
        return report(remote, 'warn', `TFTP ${path} failed: ${result.reason}`, { ...data, reason: result.reason });
    }
  }

  let closing = false;
  socket.on('message', (msg, rinfo) => {
    if (closing) return;
    counters.received++;
    const remote = { address: rinfo.address, port: rinfo.port };
    const decision = decideRequest(msg);
    switch (decision.kind) {
      case 'drop':
        counters.dropped++;
        options.logger?.debug({ ip: remote.address, reason: decision.reason }, 'tftp: dropped datagram');
        return;
      case 'refuse':
        return refuse(remote, decision.code, decision.message, decision.filename);
      case 'read': {
        // The request itself is part of the key: a retransmitted RRQ is a duplicate, but a PXE ROM that
        // probes with tsize, aborts, and asks again from the same port must not wait for the abort.
        const client = clientOf(remote);
        const key = `${client}|${msg.toString('latin1')}`;
        if (transfers.has(key)) {
          counters.duplicateRequests++;
          return;
        }
        if ((perClient.get(client) ?? 0) >= MAX_PER_CLIENT_PORT) {
          counters.portLimited++;
          return;
        }
        // Refused aloud: the client's console says why, where silence would read as a lost packet.
        if ((perAddress.get(remote.address) ?? 0) >= options.maxTransfersPerAddress)
          return refuse(remote, ErrorCode.NOT_DEFINED, `Too many transfers from this address (${options.maxTransfersPerAddress})`, decision.path, 'addressLimited');
        if (transfers.size >= options.maxTransfers) return refuse(remote, ErrorCode.NOT_DEFINED, 'Server busy, try again', decision.path, 'busy');
        take(key, remote);
        void serve(key, remote, decision.path, decision.netascii, decision.options);
      }
    }
  });
  // Sending an ERROR to a vanished client can fail; that must never take the server down.
  socket.on('error', (err) => options.logger?.warn({ err }, 'tftp: request socket error'));

  const bound = new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ port: options.port, address: host }, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  const started = TransferThread.start({
    entry: new URL('./transfer-worker.ts', import.meta.url),
    // Fine enough to keep the first retransmission on time.
    tickMs: Math.max(10, Math.min(100, retransmitMs / 4)),
    onIgnored: () => counters.dropped++,
    onDeath: (err) => options.logger?.warn({ err }, 'tftp: the transfer thread died, its transfers failed; the next transfer starts a new one'),
  });
  // Both at once (the thread takes a while to start); whichever fails, neither is left running.
  const [socketUp, threadUp] = await Promise.allSettled([bound, started]);
  if (socketUp.status === 'rejected' || threadUp.status === 'rejected') {
    socket.close();
    if (threadUp.status === 'fulfilled') await threadUp.value.close('server not started');
    throw socketUp.status === 'rejected' ? socketUp.reason : (threadUp as PromiseRejectedResult).reason;
  }
  const thread = threadUp.value;

  const port = socket.address().port;
  options.logger?.info({ host, port, root: options.root }, 'tftp: listening');

  return {
    port,
    stats: () => ({ ...counters, active: transfers.size, cacheHits: files.hits + (assetFiles?.hits ?? 0), cacheMisses: files.misses + (assetFiles?.misses ?? 0) }),
    close: async () => {
      if (closing) return;
      closing = true;
      const socketClosed = new Promise<void>((resolve) => socket.close(() => resolve()));
      await thread.close('server closing');
      transfers.clear();
      perClient.clear();
      perAddress.clear();
      await socketClosed;
    },
  };
}
