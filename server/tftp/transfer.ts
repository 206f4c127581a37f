/**
 * Socket shell of one read transfer: its own ephemeral UDP port connected to the client (RFC 1350
 * TIDs; the kernel then drops datagrams from anyone else), driving a pure Sender.
 */
import dgram from 'node:dgram';
import type { Body } from './body.js';
import { dataHeader, encodeOack, parsePacket, type Options } from './packet.js';
import { Sender, type SenderConfig, type Step } from './sender.js';

export interface TransferResult {
  outcome: 'sent' | 'probe' | 'unacknowledged' | 'failed';
  reason?: string;
  bytes: number;
  ms: number;
  retransmissions: number;
}

export interface TransferSetup {
  remote: { address: string; port: number };
  /** Local address to send from (the address the server listens on). */
  host: string;
  type: 'udp4' | 'udp6';
  body: Body;
  oack?: Options;
  sender: Omit<SenderConfig, 'size' | 'oack'>;
  /** Datagrams on this transfer's port that were not a usable ACK or ERROR. */
  onIgnored(): void;
  onEnd(result: TransferResult): void;
}

export class Transfer {
  private readonly socket: dgram.Socket;
  private readonly sender: Sender;
  private readonly startedAt: number;
  private readonly oack?: Buffer;
  private ended = false;
  /** Disk reads are async; sends of one transfer stay in order behind this chain. */
  private sending: Promise<void> | undefined;

  constructor(private readonly setup: TransferSetup) {
    this.startedAt = Date.now();
    this.oack = setup.oack && encodeOack(setup.oack);
    this.sender = new Sender({ ...setup.sender, size: setup.body.size, oack: !!setup.oack });
    this.socket = dgram.createSocket({ type: setup.type });
    // ECONNREFUSED: the client's port is closed (ICMP port unreachable), it will not answer again.
    this.socket.on('error', (err) => this.apply(this.sender.lost(`socket: ${(err as NodeJS.ErrnoException).code ?? err.message}`)));
    this.socket.on('message', (msg) => this.onMessage(msg));
  }

  begin(): void {
    this.socket.bind({ port: 0, address: this.setup.host }, () => {
      if (this.ended) return;
      this.socket.connect(this.setup.remote.port, this.setup.remote.address, () => {
        if (!this.ended) this.apply(this.sender.start(Date.now()));
      });
    });
  }

  tick(now: number): void {
    if (!this.ended) this.apply(this.sender.tick(now));
  }

  abort(reason: string): void {
    this.end('failed', reason);
  }

  private onMessage(msg: Buffer): void {
    const parsed = parsePacket(msg);
    if (parsed.ok && parsed.packet.op === 'ack') this.apply(this.sender.onAck(parsed.packet.block, Date.now()));
    else if (parsed.ok && parsed.packet.op === 'error') this.apply(this.sender.onError(parsed.packet.message));
    else this.setup.onIgnored();
  }

  private apply(step: Step): void {
    switch (step.kind) {
      case 'send':
        return this.queue(step.first, step.last);
      case 'done':
        return this.end('sent');
      case 'probe':
        return this.end('probe', step.reason);
      case 'unacknowledged':
        return this.end('unacknowledged', step.reason);
      case 'fail':
        return this.end('failed', step.reason);
      case 'wait':
        return;
    }
  }

  /** No closure on the in-memory path: this runs once per ACK and closures cost there (tsx's keepNames wraps each one). */
  private queue(first: number, last: number): void {
    const pending = this.sending ? this.sending.then(() => this.sendWindow(first, last)) : this.sendWindow(first, last);
    if (!pending) return;
    const tail: Promise<void> = pending.then(() => {
      if (this.sending === tail) this.sending = undefined;
    });
    this.sending = tail;
  }

  /**
   * A window starts right after the last ACK: whatever comes before it will never be sent again,
   * which a converting body (netascii) may forget. Told when the window is sent, not when it is
   * queued, so an earlier window still being read keeps its bytes.
   */
  private sendWindow(first: number, last: number): Promise<void> | undefined {
    if (first > 0 && this.setup.body.discard) this.setup.body.discard(this.sender.blockBounds(first)[0]);
    return this.send(first, last);
  }

  /** Sends blocks first…last; returns undefined when everything was in memory (the usual case). */
  private send(first: number, last: number): Promise<void> | undefined {
    for (let block = first; block <= last; block++) {
      if (this.ended) return undefined;
      if (block === 0) {
        this.socket.send(this.oack!);
        continue;
      }
      const [start, end] = this.sender.blockBounds(block);
      const payload = this.setup.body.read(start, end);
      if (payload instanceof Promise) {
        return payload.then(
          (bytes) => {
            if (!this.ended) this.socket.send([dataHeader(block), bytes]);
            return this.send(block + 1, last);
          },
          (err: Error) => this.end('failed', `read: ${err.message}`),
        );
      }
      this.socket.send([dataHeader(block), payload]);
    }
    return undefined;
  }

  private end(outcome: TransferResult['outcome'], reason?: string): void {
    if (this.ended) return;
    this.ended = true;
    this.socket.close();
    this.setup.body.close();
    this.setup.onEnd({
      outcome,
      reason,
      bytes: outcome === 'sent' || outcome === 'unacknowledged' ? this.setup.body.size : 0,
      ms: Date.now() - this.startedAt,
      retransmissions: this.sender.retransmissions,
    });
  }
}
