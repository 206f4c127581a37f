/**
 * Turns a requested TFTP filename into a path relative to the served root, or refuses it.
 * Pure; the filesystem side (symlinks resolving outside the root) is checked where files are opened.
 */

export type SafePath = { ok: true; path: string } | { ok: false; reason: string };

const MAX_PATH = 512;

export function safeRelativePath(filename: string): SafePath {
  if (filename.length > MAX_PATH) return { ok: false, reason: 'name too long' };
  // Control characters (NUL included) never belong in a boot file name and confuse logs and syscalls.
  if (/[\x00-\x1f\x7f]/.test(filename)) return { ok: false, reason: 'control character in name' };
  // We never decode %XX, but something downstream (a generator, a log viewer, an HTTP mirror) might:
  // an encoded name is refused rather than served under a meaning nobody checked.
  if (/%[0-9a-fA-F]{2}/.test(filename)) return { ok: false, reason: 'percent-encoding in name' };
  // Windows-style PXE clients ask for boot\x64\file: treat backslash as a separator, then
  // `..\..\etc` is caught by the same `..` rule as its slash form.
  const segments = filename.replace(/\\/g, '/').split('/');
  const kept: string[] = [];
  for (const segment of segments) {
    if (segment === '' || segment === '.') continue; // leading "/" stripped like tftpd-hpa -s
    if (segment === '..') return { ok: false, reason: 'parent directory in name' };
    kept.push(segment);
  }
  if (kept.length === 0) return { ok: false, reason: 'empty name' };
  return { ok: true, path: kept.join('/') };
}
