/**
 * This machine's dynamically linked programs for a guest initramfs: each binary and every shared
 * library `ldd` says it loads (the loader included), at the same paths as here, so they run in the
 * guest as they do on the host (same Debian release as the guest's kernel and busybox).
 */
import { readFile } from 'node:fs/promises';
import type { CpioEntry } from './cpio.js';
import { run } from './run.js';

/** Library paths of one binary as `ldd` lists them (`lib => /path (0x…)` and `/path (0x…)`). */
export async function lddPaths(bin: string): Promise<string[]> {
  const libs: string[] = [];
  for (const line of (await run('ldd', [bin])).split('\n')) {
    const lib = /=> (\/\S+)/.exec(line)?.[1] ?? /^\s*(\/\S+) \(0x/.exec(line)?.[1];
    if (lib) libs.push(lib);
  }
  return libs;
}

/**
 * The binaries and their libraries as cpio entries, each file once. `pkg` is the Debian package
 * the error names when a binary is not there (test/peers.sh installs them all).
 */
export async function hostBinaries(bins: { path: string; pkg: string }[]): Promise<CpioEntry[]> {
  const files = new Set<string>();
  for (const { path, pkg } of bins) {
    let libs: string[];
    try {
      libs = await lddPaths(path);
    } catch (err) {
      throw new Error(`${path} (Debian package ${pkg}) is needed in the e2e guest: ${(err as Error).message.split('\n')[0]}`);
    }
    files.add(path);
    for (const lib of libs) files.add(lib);
  }
  return Promise.all([...files].map(async (path): Promise<CpioEntry> => ({ path, kind: 'file', data: await readFile(path), mode: 0o755 })));
}
