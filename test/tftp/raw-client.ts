/** A bare UDP endpoint for tests that need to misbehave on purpose (lose, stall, forge). */
import dgram from 'node:dgram';
import { parsePacket, type Packet } from '../../server/tftp/packet.js';

export interface Received {
  bytes: Buffer;
  packet?: Packet;
  port: number;
}

export class RawClient {
  private readonly inbox: Received[] = [];
  private waiter: (() => void) | undefined;

  private constructor(private readonly socket: dgram.Socket) {
    socket.on('message', (bytes, rinfo) => {
      const parsed = parsePacket(bytes);
      this.inbox.push({ bytes, packet: parsed.ok ? parsed.packet : undefined, port: rinfo.port });
      this.waiter?.();
    });
  }

  /** From `local`: any address of 127/8 is this host's, so a test can play several clients. */
  static async open(local = '127.0.0.1'): Promise<RawClient> {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, local, resolve));
    return new RawClient(socket);
  }

  get port(): number {
    return this.socket.address().port;
  }

  send(bytes: Buffer, port: number): void {
    this.socket.send(bytes, port, '127.0.0.1');
  }

  /** The next datagram, or undefined when none arrives within timeoutMs. */
  async next(timeoutMs: number): Promise<Received | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (this.inbox.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiter = undefined;
    }
    return this.inbox.shift();
  }

  close(): void {
    this.socket.close();
  }
}
