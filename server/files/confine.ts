/**
 * The filesystem half of "nothing escapes the served root", shared by TFTP and by HTTP
 * (/boot/firmware, /boot/assets): the requested name (already through safeRelativePath) is
 * resolved with every symlink followed, and the real file must lie inside the root or inside
 * one of the directories the root's symlinks are allowed to point into (Debian's
 * /usr/lib/ipxe/ipxe.efi → /boot/ipxe.efi). The file is then opened by its real path without
 * following a last-moment symlink, and non-blocking so a FIFO cannot hang the open.
 */
import { constants } from 'node:fs';
import { open, realpath, type FileHandle } from 'node:fs/promises';
import path from 'node:path';

export type ConfinedRefusal = 'missing' | 'outside' | 'denied' | 'not-a-file' | 'error';

export type Confined = { ok: true; real: string } | { ok: false; why: ConfinedRefusal; code?: string };

export type ConfinedFile =
  | { ok: true; real: string; handle: FileHandle; size: number; mtimeMs: number; ino: number; mtime: Date }
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
export async function resolveConfined(root: string, relative: string, symlinkDirs: readonly string[] = []): Promise<Confined> {
  // The file and the directories side by side: each realpath is a trip to the thread pool, and
  // under a boot storm every trip waits its turn there.
  const failed = (err: unknown) => ({ err });
  const [file, [realRoot, ...others]] = await Promise.all([
    realpath(path.join(root, relative)).catch(failed),
    Promise.all([root, ...symlinkDirs].map((d) => realpath(d).catch(() => undefined))),
  ]);
  if (realRoot === undefined) return { ok: false, why: 'missing', code: 'ENOENT' };
  if (typeof file !== 'string') return refusal(file.err);
  const allowed = [realRoot, ...others.filter((d): d is string => d !== undefined)];
  if (!allowed.some((dir) => within(dir, file))) return { ok: false, why: 'outside' };
  return { ok: true, real: file };
}

/** resolveConfined, then an open of the real path that only succeeds on a regular file. The caller closes the handle. */
export async function openConfined(root: string, relative: string, symlinkDirs: readonly string[] = []): Promise<ConfinedFile> {
  const resolved = await resolveConfined(root, relative, symlinkDirs);
  if (!resolved.ok) return resolved;
  let handle: FileHandle;
  try {
    handle = await open(resolved.real, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
  } catch (err) {
    return refusal(err);
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) {
      await handle.close();
      return { ok: false, why: 'not-a-file' };
    }
    return { ok: true, real: resolved.real, handle, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino, mtime: st.mtime };
  } catch (err) {
    await handle.close().catch(() => {});
    return refusal(err);
  }
}
