import type { BootEvent } from '../model/events.js';
import type { BootView, MachineDirectory } from '../model/boot.js';
import { RateLimiter } from '../model/rate-limit.js';
import { answerAuthoritative, type UnknownLimits } from './authoritative.js';
import { classify, type BootFiles, type BootTarget } from './classify.js';
import { readClientInfo } from './client-info.js';
import { BOOTREQUEST, parseDhcp, type DhcpPacket } from './codec.js';
import type { LeaseTable } from './lease-table.js';
import { messageTypeName, Opt, type MessageTypeName } from './options.js';
import { findPool, type Pool } from './pool.js';
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
  /** local and discover answer unknown PXE clients alike; the boot script is what differs. */
  unknownMachines: 'ignore' | 'local' | 'discover';
  ports: { server: number; proxy: number; client: number };
  directory: MachineDirectory;
  /** Authoritative mode only. */
  pools: Pool[];
  /**
   * Several instances on one store: whether this instance answers a segment now (it holds the
   * segment's lock; authoritative: and has the subnet's leases loaded). A standby stays silent to
   * what the whole segment hears. Absent: every segment.
   */
  answers?: (segment: string) => boolean;
  /** Proxy mode, for `answers`: the segment's name (segments.ts). */
  segment?: string;
  leases?: LeaseTable;
  /** Authoritative mode, unknown MACs answered: caps on the addresses they may hold. */
  limits?: UnknownLimits;
  /**
   * Relay agents whose giaddr is believed (dhcp.relays). A request with any other giaddr is
   * dropped: giaddr picks the subnet a lease comes from and where the answer goes.
   */
  relays?: readonly string[];
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
  const relays = new Set(opts.relays ?? []);
  /**
   * Warnings for refused requests: a few per MAC (or relay), and a bounded number per kind of
   * refusal, so a flood stays a counter and one kind (a pool flood) does not hide another (a
   * forged RELEASE).
   */
  const perKey = new RateLimiter(5, 10_000);
  const perKind = new RateLimiter(50, 10_000);
  const warnable = (key: string, kind: string) => perKey.allow(key, now()) && perKind.allow(kind, now());

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
    if (req.giaddr !== ZERO && !relays.has(req.giaddr)) {
      const event: BootEvent | undefined = warnable(`relay ${req.giaddr}`, 'relay-not-allowed')
        ? { kind: 'dhcp', mac, level: 'warn', message: `${info.type} relayed through ${req.giaddr}, which is not in dhcp.relays: dropped`, data: { request: info.type, relay: req.giaddr, from: from.address, outcome: 'relay-not-allowed' } }
        : undefined;
      return { replies: [], dropped: 'relay-not-allowed', request: info.type, event };
    }

    const viaProxyPort = localPort === opts.ports.proxy && opts.ports.proxy !== opts.ports.server;
    const seenIp = viaProxyPort && from.address !== ZERO ? from.address : req.ciaddr !== ZERO ? req.ciaddr : info.type === 'REQUEST' ? info.requestedIp : undefined;
    const learnedFromRequest = seenIp ? { ip: seenIp, mac } : undefined;

    if (opts.answers) {
      // Proxy: a request on 4011 is unicast to this host (to the address its OFFER named, or a
      // floating one it holds now); no other instance hears it, so it is answered.
      const segment =
        opts.mode === 'authoritative' ? findPool(opts.pools, req.giaddr !== ZERO ? req.giaddr : opts.serverAddress)?.cidr : viaProxyPort ? undefined : opts.segment;
      // Before the directory lookup: a standby hears every broadcast of the segment. In proxy
      // mode it still learns the address a MAC uses (no store holds it): the install token goes
      // to that address, from whichever instance serves /boot, before a takeover and after it.
      if (segment && !opts.answers(segment))
        return { replies: [], dropped: 'standby', request: info.type, learned: opts.mode === 'proxy' ? learnedFromRequest : undefined };
    }

    let view: BootView | undefined;
    try {
      view = await opts.directory.byMac(mac);
    } catch {
      return { replies: [], dropped: 'directory-error', request: info.type };
    }
    if (!view && opts.unknownMachines === 'ignore')
      return { replies: [], dropped: 'unknown-mac', request: info.type, learned: opts.mode === 'proxy' ? learnedFromRequest : undefined };

    const c = classify(info, mac, { publicUrl: opts.publicUrl, bootFiles: opts.bootFiles }, view);
    const boot = c.boot;
    const base: Omit<BootEvent, 'level' | 'message'> = { kind: 'dhcp', mac, ...(view ? { machine: view.name } : {}) };
    const unsupported =
      c.boot === undefined && c.reason === 'unsupported-arch'
        ? ({ ...base, level: 'warn', message: `${info.type} from unsupported client architecture ${c.arch}`, data: { arch: c.arch } } satisfies BootEvent)
        : undefined;

    let reply: DhcpPacket | undefined;
    let ip: string | undefined;
    let outcome: string;
    let refused: string | undefined;
    if (opts.mode === 'proxy') {
      if (!boot) return { replies: [], dropped: c.reason, request: info.type, learned: learnedFromRequest, event: unsupported };
      reply = answerProxy(req, info, boot, { serverAddress: opts.serverAddress, tftpServer: opts.tftpServer, viaProxyPort });
      outcome = reply ? (viaProxyPort ? 'proxy-ack' : 'proxy-offer') : 'for-site-server';
    } else {
      const r = answerAuthoritative(
        req,
        macInfo,
        view,
        boot,
        { serverAddress: opts.serverAddress, tftpServer: opts.tftpServer, pools: opts.pools, leases: opts.leases!, limits: opts.unknownMachines !== 'ignore' ? opts.limits : undefined },
        now(),
        from,
      );
      ({ reply, ip, outcome, refused } = r);
    }

    const replyType = reply ? messageTypeName(reply.options.get(Opt.MESSAGE_TYPE)?.[0]) : undefined;
    // Authoritative: an address is this MAC's only when we acknowledged its lease (install tokens
    // are handed to that address); what a request claims (ciaddr, option 50, an INFORM) is
    // anyone's to forge.
    // Proxy: the site server's ACK is not ours to see, the request is all there is.
    const acked = replyType === 'ACK' && ip && ip !== ZERO ? { ip, mac } : undefined;
    const learned = opts.mode === 'authoritative' ? (outcome === 'ack' ? acked : undefined) : (acked ?? learnedFromRequest);
    if (refused) {
      const event: BootEvent | undefined = warnable(`mac ${mac}`, outcome)
        ? {
            ...base,
            ...(ip ? { ip } : {}),
            level: 'warn',
            message: `${info.type} refused: ${refused}`,
            data: { mode: opts.mode, request: info.type, reply: replyType, outcome, from: from.address, relay: req.giaddr !== ZERO ? req.giaddr : undefined, port: localPort },
          }
        : undefined;
      if (!reply) return { replies: [], dropped: outcome, request: info.type, event };
      echoRelayAgent(reply, req);
      return { replies: [{ packet: reply, to: destination(req, reply, from, viaProxyPort, { server: opts.ports.server, client: opts.ports.client }) }], request: info.type, event };
    }
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
