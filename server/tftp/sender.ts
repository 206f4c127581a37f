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
  /** Time between retransmissions of an unacknowledged window (RFC 2349 `timeout`, or the server's own). */
  timeoutMs: number;
  /**
   * Retransmissions of one window without progress before the transfer is given up: a peer that
   * stopped answering is gone within (retries + 1) × timeoutMs of the last new send.
   */
  retries: number;
}

export type Step =
  | { kind: 'send'; first: number; last: number }
  | { kind: 'wait' }
  | { kind: 'done' }
  /** The peer read the OACK and ended the transfer: how PXE ROMs learn a file's size (tsize) before fetching it. */
  | { kind: 'probe'; reason: string }
  /**
   * Every block went out, the final ACK never came: a client that jumped into the file before
   * acknowledging it, whose final ACK was lost, or one that vanished after the last block.
   */
  | { kind: 'unacknowledged'; reason: string }
  | { kind: 'fail'; reason: string };

const WAIT: Step = { kind: 'wait' };

export class Sender {
  readonly totalBlocks: number;
  /** Highest block the peer acknowledged; -1 while the OACK is unacknowledged. */
  private acked: number;
  private sentUpTo = -1;
  private lastSendAt = 0;
  /** Retransmissions since the peer last moved forward. */
  private resends = 0;
  /** Guards against the Sorcerer's Apprentice: at most one duplicate-ACK resend per step forward. */
  private resentOnDuplicate = false;
  private finished = false;
  retransmissions = 0;

  constructor(private readonly config: SenderConfig) {
    // A final block shorter than blksize ends the transfer, so an exact multiple needs an empty one.
    this.totalBlocks = Math.floor(config.size / config.blksize) + 1;
    this.acked = config.oack ? -1 : 0;
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
    this.resends = 0;
    this.resentOnDuplicate = false;
    return this.window(now);
  }

  onError(message: string): Step {
    if (this.finished) return WAIT;
    this.finished = true;
    if (this.acked === -1) return { kind: 'probe', reason: `peer sent ERROR after the OACK: ${message}` };
    return { kind: 'fail', reason: `peer sent ERROR: ${message}` };
  }

  /**
   * Called periodically; retransmits the outstanding window when its timeout passed (the final
   * block too: its ACK may be lost, RFC 1350 §6), and gives up once the retries are spent.
   */
  tick(now: number): Step {
    if (this.finished) return WAIT;
    if (now - this.lastSendAt < this.config.timeoutMs) return WAIT;
    if (this.resends >= this.config.retries) return this.lost(`no ACK after ${this.resends} retransmissions ${this.config.timeoutMs} ms apart`);
    this.resends++;
    return this.window(now);
  }

  /** The peer is gone (retries spent, or its port closed): a failure, unless only the final ACK was missing. */
  lost(reason: string): Step {
    if (this.finished) return WAIT;
    this.finished = true;
    if (this.sentUpTo === this.totalBlocks) return { kind: 'unacknowledged', reason };
    return { kind: 'fail', reason: this.acked === -1 ? `OACK not acknowledged: ${reason}` : reason };
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
