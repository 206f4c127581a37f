/**
 * RFC 1350 netascii: the wire form of text is CR LF for a newline and CR NUL for a lone CR.
 * Only tftp-hpa's default mode asks for it; PXE firmware always asks for octet.
 *
 * Each byte on disk becomes one or two bytes on the wire, whatever its neighbours, so the
 * conversion streams: a transfer converts the blocks it is about to send and forgets the ones
 * the client acknowledged, and never holds a converted copy of the whole file (40 netascii
 * downloads of a 16 MiB file used to cost 40 converted copies). The only state is where a
 * two-byte expansion straddles the end of a block: the block ends after its CR, the next one
 * starts with the LF or NUL.
 */
import type { Body } from './body.js';

const CR = 0x0d;
const LF = 0x0a;

/** How many bytes the netascii form of `bytes` has more than `bytes`: one per CR and per LF. */
export function netasciiExtra(bytes: Buffer): number {
  let n = 0;
  for (let i = bytes.indexOf(LF); i >= 0; i = bytes.indexOf(LF, i + 1)) n++;
  for (let i = bytes.indexOf(CR); i >= 0; i = bytes.indexOf(CR, i + 1)) n++;
  return n;
}

/** Whole-buffer conversion (pure); a buffer without CR or LF is returned as it is. */
export function toNetascii(bytes: Buffer): Buffer {
  const extra = netasciiExtra(bytes);
  if (extra === 0) return bytes;
  const out = Buffer.allocUnsafe(bytes.length + extra);
  encodeInto(bytes, out);
  return out;
}

/** Writes the netascii form of `bytes` into `out` (which must have room for it); returns the length. */
function encodeInto(bytes: Buffer, out: Buffer): number {
  const r = encodeSome(bytes, out, 0);
  return r.end;
}

function find(raw: Buffer, byte: number, from: number): number {
  const at = raw.indexOf(byte, from);
  return at < 0 ? raw.length : at;
}

/** Runs shorter than this are copied byte by byte; a Buffer.copy call costs more than that. */
const SHORT_RUN = 32;

/**
 * Encodes raw bytes into out[o…out.length) until either runs out. A CR or LF that finds room
 * for only its CR leaves its second byte (LF or NUL) pending for the next block.
 */
function encodeSome(raw: Buffer, out: Buffer, o: number): { used: number; end: number; pending: number } {
  const limit = out.length;
  let i = 0;
  // The next LF and CR are looked up only once passed: each search is then linear overall.
  let nextLf = -1;
  let nextCr = -1;
  while (o < limit && i < raw.length) {
    if (nextLf < i) nextLf = find(raw, LF, i);
    if (nextCr < i) nextCr = find(raw, CR, i);
    const run = Math.min(nextLf, nextCr, i + limit - o) - i;
    if (run > 0) {
      if (run < SHORT_RUN) for (let k = 0; k < run; k++) out[o++] = raw[i++];
      else {
        raw.copy(out, o, i, i + run);
        o += run;
        i += run;
      }
      continue;
    }
    const second = raw[i] === LF ? LF : 0;
    i++;
    out[o++] = CR;
    if (o === limit) return { used: i, end: o, pending: second };
    out[o++] = second;
  }
  return { used: i, end: o, pending: -1 };
}

interface Segment {
  /** Offset of bytes[0] in the converted stream. */
  start: number;
  bytes: Buffer;
  /** The buffer bytes lives in, taken back for a later block once the client has acknowledged this one. */
  store: Buffer;
}

/** Buffers kept for reuse per transfer: a window's worth (the largest window the server agrees to). */
const MAX_SPARE = 64;

const EMPTY = Buffer.alloc(0);

/**
 * The netascii view of a raw body, converted one block at a time as the sender asks for it.
 * Reads move forward: the blocks of a window, then (retransmitting) the same blocks again, then
 * later ones; each new block is converted into its own buffer, so a block is a view, never a
 * copy. `discard(before)` says the client acknowledged everything before that offset: only the
 * blocks in flight are kept. A read behind what was discarded still works (the conversion starts
 * over from the beginning); the sender never makes one.
 *
 * `size` is the converted length, known beforehand (see RootFiles): the sender needs the number
 * of blocks. Should the file change under a transfer, the stream is cut at `size`, or ends short.
 */
export class NetasciiBody implements Body {
  private segments: Segment[] = [];
  private spare: Buffer[] = [];
  /** Raw bytes converted so far, and the converted length they gave. */
  private rawPos = 0;
  private outPos = 0;
  /** Second byte of an expansion cut by the end of the last block, or -1. */
  private pending = -1;
  private closed = false;
  /** Conversions restarted from the beginning (a read behind a discard): 0 on every path the sender takes. */
  rewinds = 0;

  constructor(
    private readonly raw: Body,
    readonly size: number,
  ) {}

  /**
   * Blocks wholly before `before` are acknowledged: their buffers are reused for the next blocks.
   * Every datagram that may still carry one (a retransmission the kernel had not taken yet) is a
   * duplicate of a block the client already has, which it ignores; so a long transfer allocates
   * a window's worth of blocks once instead of one buffer per block, and leaves no garbage.
   */
  discard(before: number): void {
    let drop = 0;
    while (drop < this.segments.length && this.segments[drop].start + this.segments[drop].bytes.length <= before) {
      if (this.spare.length < MAX_SPARE) this.spare.push(this.segments[drop].store);
      drop++;
    }
    if (drop > 0) this.segments.splice(0, drop);
  }

  read(start: number, end: number): Buffer | Promise<Buffer> {
    end = Math.min(end, this.size);
    if (end <= start || this.closed) return EMPTY;
    if (start < (this.segments[0]?.start ?? this.outPos)) this.rewind();
    while (this.outPos < end) {
      if (this.rawPos >= this.raw.size && this.pending < 0) break;
      const want = end - this.outPos;
      // Every raw byte gives at least one converted byte: `want` raw bytes are always enough.
      const rawEnd = Math.min(this.raw.size, this.rawPos + want);
      const bytes = this.rawPos < rawEnd ? this.raw.read(this.rawPos, rawEnd) : EMPTY;
      if (bytes instanceof Promise) return bytes.then((b) => (this.produce(b, want) ? this.read(start, end) : this.slice(start, end)));
      if (!this.produce(bytes, want)) break;
    }
    return this.slice(start, end);
  }

  close(): void {
    this.closed = true;
    this.segments = [];
    this.spare = [];
    this.raw.close();
  }

  private rewind(): void {
    this.rewinds++;
    this.segments = [];
    this.rawPos = 0;
    this.outPos = 0;
    this.pending = -1;
  }

  /** Converts raw bytes (from rawPos on) into the next segment of at most `want` bytes; false when nothing came out. */
  private produce(raw: Buffer, want: number): boolean {
    if (this.closed) return false;
    let store = this.spare.pop();
    if (store && store.length < want) store = undefined; // blocks are one size; only a last, short one differs
    store ??= Buffer.allocUnsafe(want);
    const out = store.length === want ? store : store.subarray(0, want);
    let o = 0;
    if (this.pending >= 0) {
      out[o++] = this.pending;
      this.pending = -1;
    }
    const r = encodeSome(raw, out, o);
    if (r.end === 0) {
      this.spare.push(store);
      return false;
    }
    this.rawPos += r.used;
    this.pending = r.pending;
    this.segments.push({ start: this.outPos, bytes: r.end === want ? out : out.subarray(0, r.end), store });
    this.outPos += r.end;
    return true;
  }

  /** [start, end) of what is converted: a view when one block holds it (always, for the sender's reads), else a copy. */
  private slice(start: number, end: number): Buffer {
    end = Math.min(end, this.outPos);
    if (end <= start) return EMPTY;
    const parts: Buffer[] = [];
    for (const s of this.segments) {
      if (s.start + s.bytes.length <= start) continue;
      if (s.start >= end) break;
      parts.push(s.bytes.subarray(Math.max(0, start - s.start), Math.min(s.bytes.length, end - s.start)));
    }
    return parts.length === 1 ? parts[0] : Buffer.concat(parts);
  }
}
