/**
 * A transfer's body as the request side hands it to the transfer thread (transfer-thread.ts):
 * bytes in memory, or an open file too large to cache, plus the converted length when the
 * transfer is netascii. It survives postMessage: cached bytes live in a SharedArrayBuffer, so
 * posting them shares them; a file handle travels in the transfer list. The thread turns it
 * into the Body a transfer reads.
 */
import type { FileHandle } from 'node:fs/promises';
import { FileBody, MemoryBody, type Body } from './body.js';
import { NetasciiBody } from './netascii.js';

export type BodySource =
  | { kind: 'memory'; bytes: Uint8Array; netasciiSize?: number }
  | { kind: 'file'; handle: FileHandle; size: number; netasciiSize?: number };

/** Read-ahead of a netascii file: the conversion copies what it reads, so one reused buffer serves a whole transfer. */
const NETASCII_READ_AHEAD = 256 << 10;

/** What the client receives: the netascii length, or the bytes as they are. */
export function sourceSize(source: BodySource): number {
  return source.netasciiSize ?? (source.kind === 'memory' ? source.bytes.length : source.size);
}

export function openBody(source: BodySource): Body {
  const raw =
    source.kind === 'memory'
      ? // A posted Buffer arrives as a plain Uint8Array: a Buffer view of the same memory, not a copy.
        new MemoryBody(Buffer.from(source.bytes.buffer, source.bytes.byteOffset, source.bytes.byteLength))
      : new FileBody(source.handle, source.size, source.netasciiSize === undefined ? {} : { chunkBytes: NETASCII_READ_AHEAD, reuse: true });
  return source.netasciiSize === undefined ? raw : new NetasciiBody(raw, source.netasciiSize);
}

/** A source that will not be sent (the server is closing, or it came too late): its file is closed. */
export function dropSource(source: BodySource): void {
  if (source.kind === 'file') source.handle.close().catch(() => {});
}
