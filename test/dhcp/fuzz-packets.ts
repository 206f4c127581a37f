import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Seeded random and mutated DHCP packets for the fuzz tests (same seed, same packets). */

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '../fixtures/dhcp');
export const seeds: Buffer[] = readdirSync(FIXTURES)
  .filter((f) => f.endsWith('-client.hex'))
  .map((f) => Buffer.from(readFileSync(join(FIXTURES, f), 'utf8').trim(), 'hex'));

export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
}

const INTERESTING = [0, 1, 2, 3, 4, 6, 12, 17, 43, 50, 51, 52, 53, 54, 55, 57, 60, 61, 66, 67, 77, 82, 93, 94, 97, 175, 255];

export function fuzzPacket(r: () => number): Buffer {
  const int = (n: number) => Math.floor(r() * n);
  const kind = int(5);
  if (kind === 0) {
    const b = Buffer.alloc(int(700));
    for (let i = 0; i < b.length; i++) b[i] = int(256);
    return b;
  }
  const seed = seeds[int(seeds.length)];
  if (kind === 1) return seed.subarray(0, int(seed.length + 1));
  let b = Buffer.from(seed);
  if (kind === 2) {
    for (let n = 1 + int(8); n > 0; n--) b[int(b.length)] = int(256);
    return b;
  }
  // Structured: a valid header with random option TLVs, lengths sometimes lying.
  b = Buffer.from(b.subarray(0, 240));
  b[0] = r() < 0.9 ? 1 : int(4);
  if (r() < 0.3) b.writeUInt32BE(int(2 ** 32), 24); // giaddr
  if (r() < 0.3) b.writeUInt32BE(int(2 ** 32), 12); // ciaddr
  for (let k = 0; k < 6; k++) b[28 + k] = int(256);
  const opts: number[] = [53, 1, 1 + int(9)];
  for (let n = int(12); n > 0; n--) {
    const code = r() < 0.7 ? INTERESTING[int(INTERESTING.length)] : int(256);
    const len = r() < 0.8 ? int(20) : int(256);
    opts.push(code, len);
    for (let i = 0; i < len && r() < 0.98; i++) opts.push(int(256));
  }
  if (r() < 0.8) opts.push(255);
  if (kind === 4 && r() < 0.5) b[108] = 53; // stray bytes in file for overload
  return Buffer.concat([b, Buffer.from(opts.map((x) => x & 255))]);
}
