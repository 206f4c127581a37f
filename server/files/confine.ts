/**
 * The filesystem half of "nothing escapes the served root", shared by TFTP and by HTTP
 * (/boot/firmware, /boot/assets): the requested name (already through safeRelativePath) is
 * resolved with every symlink followed, and the real file must lie inside the root or inside
 * one of the directories the root's symlinks are allowed to point into (Debian's
 * /usr/lib/ipxe/ipxe.efi → /boot/ipxe.efi). The file is then opened by its real path without
 * following a last-moment symlink, and non-blocking so a FIFO cannot hang the open.
 *
 * These calls are synchronous, as nginx makes them in its event loop: each is a few µs against a
 * page-cached directory tree, where a trip to libuv's thread pool costs the event loop 30–120 µs
 * on this project's VMs (waking a sleeping pool thread) and a pool thread's CPU besides. A boot
 * storm's asset requests made 24,000 such trips, ~1 s of the event loop's time (CPU profile,
 * bench/storm/RESULTS.md, session 10). The file's bytes are still read on the pool.
 */
import { closeSync, constants, fstatSync, openSync, realpathSync } from 'node:fs';
import path from 'node:path';

export type ConfinedRefusal = 'missing' | 'outside' | 'denied' | 'not-a-file' | 'error';

export type Confined = { ok: true; real: string } | { ok: false; why: ConfinedRefusal; code?: string };

export type ConfinedFile =
  | { ok: true; real: string; fd: number; size: number; mtimeMs: number; ino: number; mtime: Date }
  | { ok: false; why: ConfinedRefusal; code?: string };

function within(dir: string, file: string): boolean {
  return file.startsWith(dir.endsWith(path.sep) ? dir : dir + path.sep);
}

function refusal(err: unknown): { ok: false; why: ConfinedRefusal; code?: string } {
  const code = (err as NodeJS.ErrnoException).code;
  // A name too long for the filesystem, or one Node refuses to pass to it, names no file either.
  if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ENAMETOOLONG' || code?.startsWith('ERR_INVALID_ARG')) return { ok: false, why: 'missing', code };
  if (code === 'EACCES' || code === 'EPERM' || code === 'ELOOP') return { ok: false, why: 'denied', code };
  return { ok: false, why: 'error', code };
}

/** `relative` must already have passed safeRelativePath. Resolved per call: the root may be created or re-pointed after start-up. */
export function resolveConfined(root: string, relative: string, symlinkDirs: readonly string[] = []): Confined {
  const real = (p: string): string | undefined => {
    try {
      return realpathSync.native(p);
    } catch {
      return undefined;
    }
  };
  const realRoot = real(root);
  if (realRoot === undefined) return { ok: false, why: 'missing', code: 'ENOENT' };
  let file: string;
  try {
    file = realpathSync.native(path.join(root, relative));
  } catch (err) {
    return refusal(err);
  }
  const allowed = [realRoot, ...symlinkDirs.map(real).filter((d): d is string => d !== undefined)];
  if (!allowed.some((dir) => within(dir, file))) return { ok: false, why: 'outside' };
  return { ok: true, real: file };
}

/** resolveConfined, then an open of the real path that only succeeds on a regular file. The caller closes the descriptor. */
export function openConfined(root: string, relative: string, symlinkDirs: readonly string[] = []): ConfinedFile {
  const resolved = resolveConfined(root, relative, symlinkDirs);
  if (!resolved.ok) return resolved;
  let fd: number;
  try {
    fd = openSync(resolved.real, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
  } catch (err) {
    return refusal(err);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) {
      closeSync(fd);
      return { ok: false, why: 'not-a-file' };
    }
    return { ok: true, real: resolved.real, fd, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino, mtime: st.mtime };
  } catch (err) {
    closeSync(fd);
    return refusal(err);
  }
}
