/**
 * What a transfer reads its blocks from: a buffer in memory (cached or generated files) or an
 * open file read ahead in chunks (files too large to cache). A read returns synchronously
 * whenever the bytes are already in memory, so the common path never waits for a promise.
 */
import type { FileHandle } from 'node:fs/promises';

export interface Body {
  readonly size: number;
  read(start: number, end: number): Buffer | Promise<Buffer>;
  /** The client acknowledged every byte before `before`: a body that converts as it reads may forget them. */
  discard?(before: number): void;
  close(): void;
}

export class MemoryBody implements Body {
  readonly size: number;
  constructor(private readonly bytes: Buffer) {
    this.size = bytes.length;
  }
  read(start: number, end: number): Buffer {
    return this.bytes.subarray(start, end);
  }
  close(): void {}
}

/** Large enough that a window of big blocks is one read; a fresh buffer per chunk, so slices already handed out stay valid. */
const CHUNK = 1 << 20;

export interface FileBodyOptions {
  /** Read-ahead per disk read (default 1 MiB). */
  chunkBytes?: number;
  /**
   * Reuse one buffer for every read: a slice is valid only until the next read. For a reader that
   * copies what it reads at once (the netascii conversion), so a long transfer leaves no garbage.
   */
  reuse?: boolean;
}

export class FileBody implements Body {
  private chunk: Buffer = Buffer.alloc(0);
  private chunkStart = 0;
  private spare: Buffer | undefined;
  private readonly chunkBytes: number;
  constructor(
    private readonly handle: FileHandle,
    readonly size: number,
    private readonly options: FileBodyOptions = {},
  ) {
    this.chunkBytes = options.chunkBytes ?? CHUNK;
  }

  read(start: number, end: number): Buffer | Promise<Buffer> {
    if (start >= this.chunkStart && end <= this.chunkStart + this.chunk.length) {
      return this.chunk.subarray(start - this.chunkStart, end - this.chunkStart);
    }
    return this.load(start, end);
  }

  private async load(start: number, end: number): Promise<Buffer> {
    const length = Math.max(this.chunkBytes, end - start);
    const buffer = this.options.reuse && this.spare && this.spare.length >= length ? this.spare : Buffer.allocUnsafe(length);
    if (this.options.reuse) this.spare = buffer;
    const { bytesRead } = await this.handle.read(buffer, 0, length, start);
    this.chunk = buffer.subarray(0, bytesRead);
    this.chunkStart = start;
    // A file that shrank under us yields a short block, which ends the transfer early rather than hanging it.
    return this.chunk.subarray(0, Math.min(end - start, bytesRead));
  }

  close(): void {
    this.handle.close().catch(() => {});
  }
}
