/**
 * Option negotiation for read requests: blksize (RFC 2348), tsize and timeout (RFC 2349),
 * windowsize (RFC 7440). Pure. Options we do not know or cannot honour are left out of the OACK,
 * which RFC 2347 defines as the client's signal that they were refused.
 */
import type { Options } from './packet.js';

export interface NegotiationLimits {
  /** Largest block we agree to; a client asking for more gets this (RFC 2348 lets the server lower it). */
  maxBlksize: number;
  maxWindowsize: number;
}

export interface Negotiated {
  blksize: number;
  windowsize: number;
  /** Retransmission timeout the client asked for, in ms; undefined = the server's default. */
  timeoutMs?: number;
  /** What to send as OACK; undefined when no option was accepted (the transfer starts with DATA 1). */
  oack?: Options;
}

export const DEFAULT_BLKSIZE = 512;
export const MIN_BLKSIZE = 8;
export const MAX_BLKSIZE = 65464;
/**
 * The longest retransmission timeout a client may ask (RFC 2349 allows 255 s). A transfer whose
 * client stopped answering lives (retries + 1) timeouts, so a client's ask must not hold a slot
 * for minutes. 5 admits U-Boot's ask; curl asks 6 unless told otherwise and is refused (the
 * option is left out of the OACK, RFC 2347, and the server's own timeout applies).
 */
export const MAX_TIMEOUT_SECONDS = 5;

function decimal(value: string): number | undefined {
  return /^[0-9]{1,10}$/.test(value) ? Number(value) : undefined;
}

/**
 * `offer.tsize` false leaves tsize out of the OACK (netascii transfers, as tftpd-hpa: the size on
 * the wire is neither the size on disk nor what the client writes after converting back).
 */
export function negotiate(requested: Options, size: number, limits: NegotiationLimits, offer: { tsize: boolean } = { tsize: true }): Negotiated {
  const result: Negotiated = { blksize: DEFAULT_BLKSIZE, windowsize: 1 };
  const oack: Options = new Map();
  for (const [name, raw] of requested) {
    const value = decimal(raw);
    if (value === undefined) continue;
    switch (name) {
      case 'blksize':
        if (value < MIN_BLKSIZE) break;
        result.blksize = Math.min(value, limits.maxBlksize, MAX_BLKSIZE);
        oack.set(name, String(result.blksize));
        break;
      case 'tsize':
        if (offer.tsize) oack.set(name, String(size));
        break;
      case 'timeout':
        if (value < 1 || value > MAX_TIMEOUT_SECONDS) break;
        result.timeoutMs = value * 1000;
        oack.set(name, String(value));
        break;
      case 'windowsize':
        if (value < 1 || value > 65535) break;
        result.windowsize = Math.min(value, limits.maxWindowsize);
        oack.set(name, String(result.windowsize));
        break;
    }
  }
  if (oack.size > 0) result.oack = oack;
  return result;
}
