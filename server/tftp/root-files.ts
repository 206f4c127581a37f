/**
 * Files under the served root, with the filesystem half of the "nothing escapes the root" rule
 * (confine.ts: symlinks are resolved and must land inside the root or an explicitly allowed
 * directory) and a bounded in-memory cache keyed by path, size and mtime, so a rack of PXE boots
 * reads each firmware file from disk once. Cached bytes live in SharedArrayBuffers: the transfer
 * thread reads the cache's own memory, a thousand transfers of one file are one copy. Netascii
 * sources carry the converted length (the sender needs the block count), counted once per file
 * version and remembered.
 */
import { constants } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { dropSource, type BodySource } from './body-source.js';
import { resolveConfined, type ConfinedRefusal } from '../files/confine.js';
import { netasciiExtra } from './netascii.js';
import { ErrorCode } from './packet.js';

export interface RootFilesOptions {
  root: string;
  /**
   * Directories outside the root that symlinks inside it may point into. Debian's ipxe package
   * links /usr/lib/ipxe/ipxe.efi → /boot/ipxe.efi, so serving that root in full needs ['/boot'].
   */
  symlinkDirs?: string[];
  /** Files up to this size are cached whole; larger ones are streamed. */
  cacheMaxFileBytes?: number;
  cacheMaxTotalBytes?: number;
}

export type Opened =
  | { ok: true; body: BodySource; cached: boolean }
  | { ok: false; code: ErrorCode; message: string };

interface CacheEntry {
  size: number;
  mtimeMs: number;
  ino: number;
  bytes: Buffer;
}

/** Converted lengths remembered (a few numbers each); past this many files the table starts over. */
const MAX_NETASCII_SIZES = 1024;
const SCAN_CHUNK = 1 << 20;

/** Counts CR and LF of an open file with positional reads, one reused buffer: flat memory whatever the size. */
async function scanNetasciiExtra(handle: FileHandle, size: number): Promise<number> {
  const buf = Buffer.allocUnsafe(Math.min(SCAN_CHUNK, Math.max(1, size)));
  let extra = 0;
  for (let pos = 0; pos < size; ) {
    const { bytesRead } = await handle.read(buf, 0, Math.min(buf.length, size - pos), pos);
    if (bytesRead === 0) break;
    extra += netasciiExtra(bytesRead === buf.length ? buf : buf.subarray(0, bytesRead));
    pos += bytesRead;
  }
  return extra;
}

/**
 * The file into memory shared with the transfer thread. `size` is the stat's: a file that grew
 * since is cut there, one that shrank ends short, and the next stat reads it again.
 */
async function readShared(real: string, size: number): Promise<Buffer> {
  const handle = await open(real, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const bytes = Buffer.from(new SharedArrayBuffer(size));
    let got = 0;
    while (got < size) {
      const { bytesRead } = await handle.read(bytes, got, size - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return got === size ? bytes : bytes.subarray(0, got);
  } finally {
    await handle.close();
  }
}

export class RootFiles {
  private readonly cache = new Map<string, CacheEntry>();
  private readonly loading = new Map<string, Promise<Buffer>>();
  private readonly netasciiSizes = new Map<string, number>();
  private readonly counting = new Map<string, Promise<number>>();
  private cachedBytes = 0;
  private readonly maxFile: number;
  private readonly maxTotal: number;
  /** Opens served from memory (cached, or joining a read already under way) and opens that read the disk. */
  hits = 0;
  misses = 0;

  constructor(private readonly options: RootFilesOptions) {
    this.maxFile = options.cacheMaxFileBytes ?? 16 << 20;
    this.maxTotal = options.cacheMaxTotalBytes ?? 128 << 20;
  }

  /** `relative` must already have passed safeRelativePath. */
  async open(relative: string, mode: 'octet' | 'netascii' = 'octet'): Promise<Opened> {
    const resolved = await resolveConfined(this.options.root, relative, this.options.symlinkDirs);
    if (!resolved.ok) return this.refused(resolved.why);
    const real = resolved.real;
    try {
      const st = await stat(real);
      if (!st.isFile()) return this.refused('not-a-file');
      const key = `${real}\0${st.size}\0${st.mtimeMs}\0${st.ino}`;
      if (st.size > this.maxFile) {
        // O_NONBLOCK: a FIFO swapped in after the stat must not hang the open; O_NOFOLLOW: nor a symlink.
        const handle = await open(real, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
        const body: BodySource = { kind: 'file', handle, size: st.size };
        if (mode === 'octet') return { ok: true, body, cached: false };
        try {
          const extra = await this.netasciiExtraOf(key, () => scanNetasciiExtra(handle, st.size));
          return { ok: true, body: { ...body, netasciiSize: st.size + extra }, cached: false };
        } catch (err) {
          dropSource(body);
          throw err;
        }
      }
      let bytes: Buffer;
      let cached = false;
      const entry = this.cache.get(real);
      if (entry && entry.size === st.size && entry.mtimeMs === st.mtimeMs && entry.ino === st.ino) {
        this.cache.delete(real); // re-insert: Map order is the LRU order
        this.cache.set(real, entry);
        this.hits++;
        bytes = entry.bytes;
        cached = true;
      } else bytes = await this.load(real, st.size, st.mtimeMs, st.ino);
      if (mode === 'octet') return { ok: true, body: { kind: 'memory', bytes }, cached };
      const extra = await this.netasciiExtraOf(key, async () => netasciiExtra(bytes));
      return { ok: true, body: { kind: 'memory', bytes, netasciiSize: bytes.length + extra }, cached };
    } catch (err) {
      return this.fsError(err);
    }
  }

  /** One count per file version, however many netascii transfers of it start at once. */
  private netasciiExtraOf(key: string, count: () => Promise<number>): Promise<number> {
    const known = this.netasciiSizes.get(key);
    if (known !== undefined) return Promise.resolve(known);
    let pending = this.counting.get(key);
    if (!pending) {
      pending = count()
        .then((extra) => {
          if (this.netasciiSizes.size >= MAX_NETASCII_SIZES) this.netasciiSizes.clear();
          this.netasciiSizes.set(key, extra);
          return extra;
        })
        .finally(() => this.counting.delete(key));
      this.counting.set(key, pending);
    }
    return pending;
  }

  /** One disk read per file even when fifty machines ask for it in the same second. */
  private load(real: string, size: number, mtimeMs: number, ino: number): Promise<Buffer> {
    const key = `${real}\0${size}\0${mtimeMs}\0${ino}`;
    let pending = this.loading.get(key);
    if (pending) this.hits++;
    else {
      this.misses++;
      pending = readShared(real, size)
        .then((bytes) => {
          this.remember(real, { size, mtimeMs, ino, bytes });
          return bytes;
        })
        .finally(() => this.loading.delete(key));
      this.loading.set(key, pending);
    }
    return pending;
  }

  private remember(real: string, entry: CacheEntry): void {
    const old = this.cache.get(real);
    if (old) {
      this.cachedBytes -= old.bytes.length;
      this.cache.delete(real);
    }
    this.cache.set(real, entry);
    this.cachedBytes += entry.bytes.length;
    for (const [key, victim] of this.cache) {
      if (this.cachedBytes <= this.maxTotal) break;
      this.cache.delete(key);
      this.cachedBytes -= victim.bytes.length;
    }
  }

  private refused(why: ConfinedRefusal): Opened {
    switch (why) {
      case 'missing':
        return { ok: false, code: ErrorCode.FILE_NOT_FOUND, message: 'File not found' };
      case 'outside':
      case 'denied':
        return { ok: false, code: ErrorCode.ACCESS_VIOLATION, message: 'Access violation' };
      case 'not-a-file':
        return { ok: false, code: ErrorCode.ACCESS_VIOLATION, message: 'Not a regular file' };
      case 'error':
        return { ok: false, code: ErrorCode.NOT_DEFINED, message: 'Cannot read file' };
    }
  }

  private fsError(err: unknown): Opened {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { ok: false, code: ErrorCode.FILE_NOT_FOUND, message: 'File not found' };
    if (code === 'EACCES' || code === 'EPERM' || code === 'ELOOP') return { ok: false, code: ErrorCode.ACCESS_VIOLATION, message: 'Access violation' };
    return { ok: false, code: ErrorCode.NOT_DEFINED, message: 'Cannot read file' };
  }
}
