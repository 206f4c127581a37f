/**
 * A TFTP read as a simulated machine's firmware does it (RFC 1350 with the options of RFC 2347,
 * 2348, 2349 and 7440): RRQ with blksize and tsize, and windowsize when asked; the transfer then
 * runs with whatever the server's OACK granted (tftpd-hpa grants no windowsize: lock-step).
 * The socket is bound to the machine's leased address, so the server sees the machine.
 */
import dgram from 'node:dgram';

export interface TftpGet {
  server: string;
  port: number;
  /** The machine's address: the source of every packet. */
  local: string;
  file: string;
  blksize: number;
  /** Blocks in flight per ACK; 1 (or absent) asks for no windowsize, as most PXE ROMs. */
  windowsize?: number;
}

export interface TftpResult {
  bytes: number;
  /** Blocks per ACK the server granted. */
  windowsize: number;
  /** ACKs sent again after a timeout or a gap. */
  retries: number;
}

const OP = { RRQ: 1, DATA: 3, ACK: 4, ERROR: 5, OACK: 6 } as const;
const TIMEOUT_S = 1;
/** Timeouts in a row before the firmware gives up on the transfer. */
const MAX_TIMEOUTS = 6;

function rrq(file: string, opts: Record<string, number>): Buffer {
  const parts = [file, 'octet', ...Object.entries(opts).flatMap(([k, v]) => [k, String(v)])];
  return Buffer.concat([Buffer.from([0, OP.RRQ]), ...parts.map((p) => Buffer.from(p + '\0', 'latin1'))]);
}

function ack(block: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt16BE(OP.ACK, 0);
  b.writeUInt16BE(block & 0xffff, 2);
  return b;
}

function parseOack(buf: Buffer): Record<string, string> {
  const fields = buf.subarray(2).toString('latin1').split('\0');
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i]) out[fields[i].toLowerCase()] = fields[i + 1];
  return out;
}

export function tftpGet(req: TftpGet): Promise<TftpResult> {
  const socket = dgram.createSocket({ type: 'udp4', recvBufferSize: 1 << 20 });
  const asked: Record<string, number> = { blksize: req.blksize, tsize: 0, timeout: TIMEOUT_S };
  if (req.windowsize && req.windowsize > 1) asked.windowsize = req.windowsize;
  return new Promise<TftpResult>((resolve, reject) => {
    let blksize = 512;
    let windowsize = 1;
    let size: number | undefined;
    let peer: { port: number } | undefined;
    /** Last block received in order (0: none yet, the OACK is acknowledged as block 0). */
    let last = 0;
    let bytes = 0;
    let sinceAck = 0;
    let retries = 0;
    let timeouts = 0;
    let lastSent: { buf: Buffer; port: number } = { buf: rrq(req.file, asked), port: req.port };
    let timer: NodeJS.Timeout | undefined;
    let gapAcked = -1;

    const finish = (err?: Error) => {
      clearTimeout(timer);
      socket.close();
      if (err) reject(err);
      else resolve({ bytes, windowsize, retries });
    };
    const send = (buf: Buffer, port: number) => {
      lastSent = { buf, port };
      socket.send(buf, port, req.server);
    };
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        if (++timeouts > MAX_TIMEOUTS) return finish(new Error(`tftp ${req.file}: timed out after block ${last}`));
        retries++;
        socket.send(lastSent.buf, lastSent.port, req.server);
        arm();
      }, TIMEOUT_S * 1000);
    };

    socket.on('error', (err) => finish(err));
    socket.on('message', (msg, rinfo) => {
      if (rinfo.address !== req.server || msg.length < 4) return;
      // The first answer fixes the server's transfer port (its TID); others are not ours.
      if (peer && rinfo.port !== peer.port) return;
      peer ??= { port: rinfo.port };
      const op = msg.readUInt16BE(0);
      if (op === OP.ERROR) return finish(new Error(`tftp ${req.file}: error ${msg.readUInt16BE(2)} ${msg.subarray(4).toString('latin1').replace(/\0.*$/, '')}`));
      if (op === OP.OACK) {
        if (last !== 0) return;
        const o = parseOack(msg);
        blksize = Number(o.blksize ?? 512);
        windowsize = Number(o.windowsize ?? 1);
        if (o.tsize) size = Number(o.tsize);
        timeouts = 0;
        send(ack(0), peer.port);
        return arm();
      }
      if (op !== OP.DATA) return;
      const block = msg.readUInt16BE(2);
      const expected = (last + 1) & 0xffff;
      if (block !== expected) {
        // RFC 7440: a gap in a window is answered with the ACK of the last block in order, once.
        if (windowsize > 1 && gapAcked !== last) {
          gapAcked = last;
          retries++;
          send(ack(last), peer.port);
          sinceAck = 0;
        }
        return arm();
      }
      timeouts = 0;
      last = block;
      const data = msg.length - 4;
      bytes += data;
      sinceAck++;
      if (data < blksize) {
        if (size !== undefined && size !== bytes) return finish(new Error(`tftp ${req.file}: ${bytes} bytes, tsize said ${size}`));
        // The socket closes only once the final ACK has left: closed at once, the send is
        // dropped, and the server holds the transfer open until its idle timeout.
        clearTimeout(timer);
        return socket.send(ack(block), peer.port, req.server, () => finish());
      }
      if (sinceAck >= windowsize) {
        send(ack(block), peer.port);
        sinceAck = 0;
      }
      arm();
    });
    socket.bind({ address: req.local, port: 0 }, () => {
      send(lastSent.buf, req.port);
      arm();
    });
  });
}
