/**
 * What a transfer reads its blocks from: a buffer in memory (cached or generated files) or an
 * open file read ahead in chunks (files too large to cache). A read returns synchronously
 * whenever the bytes are already in memory, so the common path never waits for a promise.
 */
import type { FileHandle } from 'node:fs/promises';

export interface Body {
  readonly size: number;
  read(start: number, end: number): Buffer | Promise<Buffer>;
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

export class FileBody implements Body {
  private chunk = Buffer.alloc(0);
  private chunkStart = 0;
  constructor(
    private readonly handle: FileHandle,
    readonly size: number,
  ) {}

  read(start: number, end: number): Buffer | Promise<Buffer> {
    if (start >= this.chunkStart && end <= this.chunkStart + this.chunk.length) {
      return this.chunk.subarray(start - this.chunkStart, end - this.chunkStart);
    }
    return this.load(start, end);
  }

  private async load(start: number, end: number): Promise<Buffer> {
    const length = Math.max(CHUNK, end - start);
    const buffer = Buffer.allocUnsafe(length);
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
