/**
 * Files under the served root, with the filesystem half of the "nothing escapes the root" rule
 * (symlinks are resolved and must land inside the root or an explicitly allowed directory) and a
 * bounded in-memory cache keyed by path, size and mtime, so a rack of PXE boots reads each
 * firmware file from disk once.
 */
import { constants } from 'node:fs';
import { open, readFile, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { FileBody, MemoryBody, type Body } from './body.js';
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
  | { ok: true; body: Body; cached: boolean }
  | { ok: false; code: ErrorCode; message: string };

interface CacheEntry {
  size: number;
  mtimeMs: number;
  ino: number;
  bytes: Buffer;
}

function within(dir: string, file: string): boolean {
  return file.startsWith(dir.endsWith(path.sep) ? dir : dir + path.sep);
}

export class RootFiles {
  private readonly cache = new Map<string, CacheEntry>();
  private readonly loading = new Map<string, Promise<Buffer>>();
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
  async open(relative: string): Promise<Opened> {
    let real: string;
    let allowed: string[];
    try {
      // Resolved per request: the root may be created, or re-pointed, after start-up.
      allowed = await Promise.all([this.options.root, ...(this.options.symlinkDirs ?? [])].map((d) => realpath(d)));
      real = await realpath(path.join(this.options.root, relative));
    } catch (err) {
      return this.fsError(err);
    }
    if (!allowed.some((dir) => within(dir, real))) {
      return { ok: false, code: ErrorCode.ACCESS_VIOLATION, message: 'Access violation' };
    }
    try {
      const st = await stat(real);
      if (!st.isFile()) return { ok: false, code: ErrorCode.ACCESS_VIOLATION, message: 'Not a regular file' };
      if (st.size > this.maxFile) {
        // O_NONBLOCK: a FIFO swapped in after the stat must not hang the open.
        const handle = await open(real, constants.O_RDONLY | constants.O_NONBLOCK);
        return { ok: true, body: new FileBody(handle, st.size), cached: false };
      }
      const entry = this.cache.get(real);
      if (entry && entry.size === st.size && entry.mtimeMs === st.mtimeMs && entry.ino === st.ino) {
        this.cache.delete(real); // re-insert: Map order is the LRU order
        this.cache.set(real, entry);
        this.hits++;
        return { ok: true, body: new MemoryBody(entry.bytes), cached: true };
      }
      const bytes = await this.load(real, st.size, st.mtimeMs, st.ino);
      return { ok: true, body: new MemoryBody(bytes), cached: false };
    } catch (err) {
      return this.fsError(err);
    }
  }

  /** One disk read per file even when fifty machines ask for it in the same second. */
  private load(real: string, size: number, mtimeMs: number, ino: number): Promise<Buffer> {
    const key = `${real}\0${size}\0${mtimeMs}\0${ino}`;
    let pending = this.loading.get(key);
    if (pending) this.hits++;
    else {
      this.misses++;
      pending = readFile(real, { flag: constants.O_RDONLY | constants.O_NONBLOCK })
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

  private fsError(err: unknown): Opened {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { ok: false, code: ErrorCode.FILE_NOT_FOUND, message: 'File not found' };
    if (code === 'EACCES' || code === 'EPERM' || code === 'ELOOP') return { ok: false, code: ErrorCode.ACCESS_VIOLATION, message: 'Access violation' };
    return { ok: false, code: ErrorCode.NOT_DEFINED, message: 'Cannot read file' };
  }
}
