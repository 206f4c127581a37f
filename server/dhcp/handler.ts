import type { BootEvent } from '../model/events.js';
import type { BootView, MachineDirectory } from '../model/boot.js';
import { answerAuthoritative } from './authoritative.js';
import { classify, type BootFiles, type BootTarget } from './classify.js';
import { readClientInfo } from './client-info.js';
import { BOOTREQUEST, parseDhcp, type DhcpPacket } from './codec.js';
import type { LeaseTable } from './lease-table.js';
import { messageTypeName, Opt, type MessageTypeName } from './options.js';
import type { Pool } from './pool.js';
import { answerProxy } from './proxy.js';
import { destination, echoRelayAgent, type Destination } from './reply.js';

/**
 * One request in, the exchange out: parse, look the MAC up, classify, let the mode decide,
 * address the reply. No sockets; the shell sends what this returns.
 */

export interface HandlerOptions {
  mode: 'proxy' | 'authoritative';
  serverAddress: string;
  tftpServer: string;
  publicUrl: string;
  bootFiles: BootFiles;
  unknownMachines: 'ignore' | 'local';
  ports: { server: number; proxy: number; client: number };
  directory: MachineDirectory;
  /** Authoritative mode only. */
  pools: Pool[];
  leases?: LeaseTable;
  now?: () => number;
}

export interface Exchange {
  replies: Array<{ packet: DhcpPacket; to: Destination }>;
  request?: MessageTypeName;
  /** Why nothing was sent, for counters (absent when a reply goes out). */
  dropped?: string;
  event?: BootEvent;
  /** An address the client uses, so TFTP transfers can be attributed to its machine. */
  learned?: { ip: string; mac: string };
}

const ZERO = '0.0.0.0';
/** RFC 1542 §4.1.1: a request relayed more than 16 times is looping. */
const MAX_HOPS = 16;

function describe(boot: BootTarget | undefined): string {
  if (!boot) return 'no boot';
  return boot.kind === 'tftp' ? `${boot.file} over tftp (${boot.firmware})` : `${boot.url} (${boot.kind}, ${boot.firmware})`;
}

export function createHandler(opts: HandlerOptions): (buf: Buffer, localPort: number, from: Destination) => Promise<Exchange> {
  const now = opts.now ?? Date.now;
  if (opts.mode === 'authoritative' && !opts.leases) throw new Error('authoritative DHCP needs a lease table');

  return async (buf, localPort, from) => {
    const parsed = parseDhcp(buf);
    if (!parsed.ok) return { replies: [], dropped: `malformed-${parsed.error.reason}` };
    const req = parsed.packet;
    if (req.op !== BOOTREQUEST) return { replies: [], dropped: 'not-a-request' };
    if (req.hops > MAX_HOPS) return { replies: [], dropped: 'too-many-hops' };
    const info = readClientInfo(req);
    if (!info.type) return { replies: [], dropped: 'no-message-type' };
    const mac = info.mac;
    if (!mac) return { replies: [], dropped: 'not-ethernet', request: info.type };
    const macInfo = { ...info, mac };

    const viaProxyPort = localPort === opts.ports.proxy && opts.ports.proxy !== opts.ports.server;
    const seenIp = viaProxyPort && from.address !== ZERO ? from.address : req.ciaddr !== ZERO ? req.ciaddr : info.type === 'REQUEST' ? info.requestedIp : undefined;
    const learnedFromRequest = seenIp ? { ip: seenIp, mac } : undefined;

    let view: BootView | undefined;
    try {
      view = await opts.directory.byMac(mac);
    } catch {
      return { replies: [], dropped: 'directory-error', request: info.type };
    }
    if (!view && opts.unknownMachines === 'ignore') return { replies: [], dropped: 'unknown-mac', request: info.type, learned: learnedFromRequest };

    const c = classify(info, mac, { publicUrl: opts.publicUrl, bootFiles: opts.bootFiles });
    const boot = c.boot;
    const base: Omit<BootEvent, 'level' | 'message'> = { kind: 'dhcp', mac, ...(view ? { machine: view.name } : {}) };
    const unsupported =
      c.boot === undefined && c.reason === 'unsupported-arch'
        ? ({ ...base, level: 'warn', message: `${info.type} from unsupported client architecture ${c.arch}`, data: { arch: c.arch } } satisfies BootEvent)
        : undefined;

    let reply: DhcpPacket | undefined;
    let ip: string | undefined;
    let outcome: string;
    if (opts.mode === 'proxy') {
      if (!boot) return { replies: [], dropped: c.reason, request: info.type, learned: learnedFromRequest, event: unsupported };
      reply = answerProxy(req, info, boot, { serverAddress: opts.serverAddress, tftpServer: opts.tftpServer, viaProxyPort });
      outcome = reply ? (viaProxyPort ? 'proxy-ack' : 'proxy-offer') : 'for-site-server';
    } else {
      const r = answerAuthoritative(req, macInfo, view, boot, { serverAddress: opts.serverAddress, tftpServer: opts.tftpServer, pools: opts.pools, leases: opts.leases! }, now());
      ({ reply, ip, outcome } = r);
    }

    const replyType = reply ? messageTypeName(reply.options.get(Opt.MESSAGE_TYPE)?.[0]) : undefined;
    const learned = replyType === 'ACK' && ip && ip !== ZERO ? { ip, mac } : learnedFromRequest;
    const eventworthy = view !== undefined || boot !== undefined || outcome === 'declined';
    const event: BootEvent | undefined = !eventworthy
      ? undefined
      : (unsupported ?? {
          ...base,
          ...(ip ? { ip } : {}),
          level: replyType === 'NAK' || outcome === 'declined' ? 'warn' : 'info',
          message: `${info.type} → ${replyType ?? outcome}${ip ? ` ${ip}` : ''}${reply ? `: ${describe(boot)}` : ''}`,
          data: {
            mode: opts.mode,
            request: info.type,
            reply: replyType,
            outcome,
            firmware: boot?.firmware,
            boot: boot ? (boot.kind === 'tftp' ? boot.file : boot.url) : undefined,
            bootKind: boot?.kind,
            relay: req.giaddr !== ZERO ? req.giaddr : undefined,
            port: localPort,
          },
        });

    if (!reply) return { replies: [], dropped: outcome, request: info.type, event, learned };
    echoRelayAgent(reply, req);
    const to = destination(req, reply, from, viaProxyPort, { server: opts.ports.server, client: opts.ports.client });
    return { replies: [{ packet: reply, to }], request: info.type, event, learned };
  };
}
