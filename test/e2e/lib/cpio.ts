/**
 * Writes a "newc" cpio archive (the format the Linux kernel unpacks as an initramfs) from memory,
 * so the guest image is assembled without staging a root tree on disk or depending on file modes
 * surviving a git checkout.
 */

export type CpioEntry =
  | { path: string; kind: 'dir'; mode?: number }
  | { path: string; kind: 'file'; data: Buffer | string; mode?: number }
  | { path: string; kind: 'symlink'; target: string }
  | { path: string; kind: 'chardev'; major: number; minor: number; mode?: number };

const TYPE = { dir: 0o040000, file: 0o100000, symlink: 0o120000, chardev: 0o020000 } as const;
const TRAILER = 'TRAILER!!!';

function hex8(n: number): string {
  return n.toString(16).padStart(8, '0');
}

function pad4(n: number): Buffer {
  return Buffer.alloc((4 - (n % 4)) % 4);
}

function record(ino: number, mode: number, name: string, body: Buffer, rdev: [number, number] = [0, 0]): Buffer[] {
  const nameBytes = Buffer.from(name + '\0');
  const header =
    '070701' +
    [ino, mode, 0, 0, 1, 0, body.length, 0, 0, rdev[0], rdev[1], nameBytes.length, 0].map(hex8).join('');
  const head = Buffer.concat([Buffer.from(header, 'ascii'), nameBytes]);
  return [head, pad4(head.length), body, pad4(body.length)];
}

/**
 * Paths are stored relative (no leading '/'), as `find . | cpio -H newc` would store them. A
 * directory no entry names before its first file is written first (mode 0755): the kernel's
 * unpacker creates no parents, and a file whose directory is missing is silently dropped.
 */
export function newc(entries: CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  const dirs = new Set<string>();
  let ino = 0;
  for (const e of entries) {
    const name = e.path.replace(/^\/+/, '');
    const segments = name.split('/');
    for (let n = 1; n < segments.length; n++) {
      const parent = segments.slice(0, n).join('/');
      if (dirs.has(parent)) continue;
      dirs.add(parent);
      parts.push(...record(++ino, TYPE.dir | 0o755, parent, Buffer.alloc(0)));
    }
    if (e.kind === 'dir') dirs.add(name);
    ++ino;
    switch (e.kind) {
      case 'dir':
        parts.push(...record(ino, TYPE.dir | (e.mode ?? 0o755), name, Buffer.alloc(0)));
        break;
      case 'file':
        parts.push(...record(ino, TYPE.file | (e.mode ?? 0o644), name, Buffer.from(e.data)));
        break;
      case 'symlink':
        parts.push(...record(ino, TYPE.symlink | 0o777, name, Buffer.from(e.target)));
        break;
      case 'chardev':
        parts.push(...record(ino, TYPE.chardev | (e.mode ?? 0o600), name, Buffer.alloc(0), [e.major, e.minor]));
        break;
    }
  }
  parts.push(...record(0, 0, TRAILER, Buffer.alloc(0)));
  return Buffer.concat(parts);
}
