import { createHash } from 'node:crypto';

/**
 * Host key pinning: the converger accepts exactly the keys the installer reported for this install.
 * Pure functions over OpenSSH public key lines and the raw key blob the server presents.
 */
export interface PinnedKey {
  type: string;
  blob: Buffer;
}

/**
 * Host key algorithms ssh2 can verify, per key type. Offering only the pinned types makes a server
 * with several host keys present the one that was pinned, not whichever it prefers.
 */
const ALGORITHMS: Record<string, string[]> = {
  'ssh-ed25519': ['ssh-ed25519'],
  'ecdsa-sha2-nistp256': ['ecdsa-sha2-nistp256'],
  'ecdsa-sha2-nistp384': ['ecdsa-sha2-nistp384'],
  'ecdsa-sha2-nistp521': ['ecdsa-sha2-nistp521'],
  'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'],
};

/** Reads `type base64 [comment]` lines; blank lines and # comments are skipped, anything else throws. */
export function parsePinnedKeys(lines: string[]): PinnedKey[] {
  const keys: PinnedKey[] = [];
  for (const raw of lines.flatMap((l) => l.split('\n'))) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const [type, b64] = line.split(/\s+/);
    const blob = Buffer.from(b64 ?? '', 'base64');
    if (!type || !b64 || blob.length === 0 || blobType(blob) !== type) throw new Error(`not an OpenSSH public key line: ${line.slice(0, 60)}`);
    keys.push({ type, blob });
  }
  return keys;
}

/** The key type named inside a key blob (its first length-prefixed string). */
export function blobType(blob: Buffer): string | undefined {
  if (blob.length < 4) return undefined;
  const len = blob.readUInt32BE(0);
  if (len === 0 || 4 + len > blob.length) return undefined;
  return blob.subarray(4, 4 + len).toString('latin1');
}

export function isPinned(pinned: PinnedKey[], presented: Buffer): boolean {
  return pinned.some((k) => k.blob.equals(presented));
}

/** OpenSSH's fingerprint form, as `ssh-keygen -lf` prints it. */
export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** The serverHostKey algorithm list to offer; empty when no pinned key is of a usable type. */
export function hostKeyAlgorithms(pinned: PinnedKey[]): string[] {
  return [...new Set(pinned.flatMap((k) => ALGORITHMS[k.type] ?? []))];
}
