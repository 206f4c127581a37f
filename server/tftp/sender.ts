/**
 * The sending side of one read transfer as a pure state machine: ACKs and clock ticks in, "send
 * these blocks" out. Blocks are numbered absolutely (1, 2, … beyond 65535); the 16-bit number on
 * the wire wraps to 0 like tftpd-hpa does, and ACKs are mapped back relative to the last ACK.
 * Block 0 stands for the OACK.
 */

export interface SenderConfig {
  size: number;
  blksize: number;
  windowsize: number;
  /** true: options were accepted, the OACK goes first and must be acknowledged with ACK 0. */
  oack: boolean;
  /** First retransmission timeout; each retransmission without progress doubles it up to maxTimeoutMs. */
  timeoutMs: number;
  maxTimeoutMs: number;
  /** Give up when the peer has been silent this long. */
  idleMs: number;
}

export type Step =
  | { kind: 'send'; first: number; last: number }
  | { kind: 'wait' }
  | { kind: 'done' }
  /** The peer read the OACK and ended the transfer: how PXE ROMs learn a file's size (tsize) before fetching it. */
  | { kind: 'probe'; reason: string }
  | { kind: 'fail'; reason: string };

const WAIT: Step = { kind: 'wait' };

export class Sender {
  readonly totalBlocks: number;
  /** Highest block the peer acknowledged; -1 while the OACK is unacknowledged. */
  private acked: number;
  private sentUpTo = -1;
  private lastSendAt = 0;
  private lastHeardAt: number;
  private timeoutMs: number;
  /** Guards against the Sorcerer's Apprentice: at most one duplicate-ACK resend per step forward. */
  private resentOnDuplicate = false;
  private finished = false;
  retransmissions = 0;

  constructor(
    private readonly config: SenderConfig,
    now: number,
  ) {
    // A final block shorter than blksize ends the transfer, so an exact multiple needs an empty one.
    this.totalBlocks = Math.floor(config.size / config.blksize) + 1;
    this.acked = config.oack ? -1 : 0;
    this.timeoutMs = config.timeoutMs;
    this.lastHeardAt = now;
  }

  /** Byte range [start, end) of the file that block carries. */
  blockBounds(block: number): [number, number] {
    const start = (block - 1) * this.config.blksize;
    return [start, Math.min(start + this.config.blksize, this.config.size)];
  }

  start(now: number): Step {
    return this.window(now);
  }

  onAck(wireBlock: number, now: number): Step {
    if (this.finished) return WAIT;
    this.lastHeardAt = now;
    const block = this.acked + ((wireBlock - this.acked) & 0xffff);
    if (block > this.sentUpTo) return WAIT; // acknowledges something never sent: stale or forged
    if (block === this.acked) {
      // Lock-step: a duplicate ACK is only an echo of a retransmission; answering it would double traffic.
      // Windowed (RFC 7440): the peer lost the first block of the window and says so; resend once.
      if (this.config.windowsize === 1 || this.resentOnDuplicate || this.acked === this.sentUpTo) return WAIT;
      this.resentOnDuplicate = true;
      return this.window(now);
    }
    if (block === this.totalBlocks) {
      this.finished = true;
      return { kind: 'done' };
    }
    this.acked = block;
    this.timeoutMs = this.config.timeoutMs;
    this.resentOnDuplicate = false;
    return this.window(now);
  }

  onError(message: string): Step {
    if (this.finished) return WAIT;
    this.finished = true;
    if (this.acked === -1) return { kind: 'probe', reason: `peer sent ERROR after the OACK: ${message}` };
    return { kind: 'fail', reason: `peer sent ERROR: ${message}` };
  }

  /** Called periodically; retransmits the outstanding window when its timeout passed. */
  tick(now: number): Step {
    if (this.finished) return WAIT;
    if (now - this.lastHeardAt >= this.config.idleMs) {
      this.finished = true;
      return { kind: 'fail', reason: `no answer for ${this.config.idleMs} ms` };
    }
    if (now - this.lastSendAt < this.timeoutMs) return WAIT;
    this.timeoutMs = Math.min(this.timeoutMs * 2, this.config.maxTimeoutMs);
    return this.window(now);
  }

  /** The window that follows the last ACK: blocks acked+1 … acked+windowsize (block 0 = OACK alone). */
  private window(now: number): Step {
    const first = this.acked + 1;
    const last = first === 0 ? 0 : Math.min(this.acked + this.config.windowsize, this.totalBlocks);
    this.retransmissions += Math.max(0, Math.min(last, this.sentUpTo) - first + 1);
    this.sentUpTo = Math.max(this.sentUpTo, last);
    this.lastSendAt = now;
    return { kind: 'send', first, last };
  }
}
