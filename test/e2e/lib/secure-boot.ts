/**
 * The signed network-boot path for the e2e VMs: Debian's Microsoft-signed shim and its
 * Debian-signed netboot GRUB (test/peers.sh installs shim-signed and grub-efi-amd64-signed) as
 * kickstand's pinned boot assets, and a way to unsign a kernel for the negative case.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { emptyEspDisk } from './boot-disk.js';
import { withLock } from './file-lock.js';
import { addArchitecture, DEFAULT_CACHE_DIR } from './guest-image.js';
import { run } from './run.js';

export const SIGNED_X64 = {
  shim: { file: '/usr/lib/shim/shimx64.efi.signed', pkg: 'shim-signed' },
  grub: { file: '/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed', pkg: 'grub-efi-amd64-signed' },
  /** The disk GRUB: its prefix is /EFI/debian on the partition it was loaded from. */
  diskGrub: { file: '/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed', pkg: 'grub-efi-amd64-signed' },
};

/** What the local disk's own GRUB prints: the firmware (through kickstand's GRUB) reached the disk. */
export const LOCAL_DISK_MARKER = 'KS-LOCAL-DISK: the signed boot loader of the local disk runs';

/**
 * An "installed system" disk for Secure Boot: an EFI-system partition with Debian's signed shim as
 * \EFI\BOOT\BOOTX64.EFI, its signed GRUB beside it, and a GRUB configuration that prints
 * LOCAL_DISK_MARKER. Under Secure Boot only a signed loader starts, so the marker on the console is
 * the whole chain from the disk working.
 */
export async function signedLocalDisk(file: string, workDir: string): Promise<string> {
  const fat = await emptyEspDisk(file);
  const cfg = join(workDir, 'grub.cfg');
  await writeFile(cfg, `echo '${LOCAL_DISK_MARKER}'\nsleep 3600\n`);
  await run('mmd', ['-i', fat, '::/EFI', '::/EFI/BOOT', '::/EFI/debian']);
  await run('mcopy', ['-i', fat, SIGNED_X64.shim.file, '::/EFI/BOOT/BOOTX64.EFI']);
  await run('mcopy', ['-i', fat, SIGNED_X64.diskGrub.file, '::/EFI/BOOT/grubx64.efi']);
  await run('mcopy', ['-i', fat, cfg, '::/EFI/debian/grub.cfg']);
  return file;
}

export async function sha256(file: string): Promise<string> {
  return createHash('sha256').update(await readFile(file)).digest('hex');
}

/**
 * Copies shim and GRUB into an assets directory where DHCP's default boot file expects them
 * (grub/shimx64.efi; shim loads grubx64.efi from its own directory) and returns their
 * `assets.files` entries, pinned by sha256.
 */
export async function installSignedLoaders(assetsDir: string): Promise<Record<string, { path: string; sha256: string }>> {
  await mkdir(join(assetsDir, 'grub'), { recursive: true });
  const files: Record<string, { path: string; sha256: string }> = {};
  for (const [name, target] of [
    ['shim', 'grub/shimx64.efi'],
    ['grub', 'grub/grubx64.efi'],
  ] as const) {
    const source = SIGNED_X64[name];
    await copyFile(source.file, join(assetsDir, target)).catch((err: Error) => {
      throw new Error(`${source.file} (Debian package ${source.pkg}, see test/peers.sh): ${err.message}`);
    });
    files[target] = { path: target, sha256: await sha256(join(assetsDir, target)) };
  }
  return files;
}

/**
 * A PE image without its Authenticode signature: the certificate table entry of the optional
 * header's data directories zeroed and the signature bytes cut off the end, as `sbattach --remove`
 * does. Everything else (the code shim and GRUB would run) is unchanged, so a refusal is the
 * signature check's alone.
 */
export function unsignedPe(image: Buffer): Buffer {
  const pe = image.readUInt32LE(0x3c);
  if (image.toString('latin1', pe, pe + 4) !== 'PE\0\0') throw new Error('not a PE image');
  const optional = pe + 24;
  const magic = image.readUInt16LE(optional);
  // Data directories start at 96 (PE32) or 112 (PE32+); the certificate table is entry 4.
  const entry = optional + (magic === 0x20b ? 112 : 96) + 4 * 8;
  const offset = image.readUInt32LE(entry);
  const size = image.readUInt32LE(entry + 4);
  if (size === 0) throw new Error('the image has no signature to remove');
  const out = Buffer.from(image.subarray(0, offset + size === image.length ? offset : image.length));
  out.writeUInt32LE(0, entry);
  out.writeUInt32LE(0, entry + 4);
  return out;
}

export async function writeUnsigned(kernel: string, dest: string): Promise<void> {
  await writeFile(dest, unsignedPe(await readFile(kernel)));
}

/** A file of a package of arch arm64, downloaded once (`apt-get download`) and cached by version. */
async function arm64PackageFile(pkg: string, inside: string, cacheDir: string): Promise<string> {
  await mkdir(cacheDir, { recursive: true });
  await addArchitecture('arm64', join(cacheDir, 'apt-update.lock'));
  const version = /^Version: (.+)$/m.exec(await run('apt-cache', ['show', '--no-all-versions', `${pkg}:arm64`]))?.[1];
  if (!version) throw new Error(`apt knows no ${pkg}:arm64`);
  const dir = join(cacheDir, `${pkg}-arm64-${version.replace(/[^A-Za-z0-9.+~-]/g, '_')}`);
  const name = inside.split('/').pop()!;
  const file = join(dir, name);
  if (!existsSync(file))
    await withLock(`${dir}.lock`, async () => {
      if (existsSync(file)) return;
      const tmp = await mkdtemp(`${dir}.tmp-`);
      try {
        await run('apt-get', ['download', '-q', `${pkg}:arm64=${version}`], { cwd: tmp });
        const [deb] = (await readdir(tmp)).filter((f) => f.endsWith('.deb'));
        await run('dpkg-deb', ['-x', join(tmp, deb), join(tmp, 'x')]);
        await mkdir(join(tmp, 'out'));
        await copyFile(join(tmp, 'x', inside), join(tmp, 'out', name));
        await rename(join(tmp, 'out'), dir);
      } finally {
        await rm(tmp, { recursive: true, force: true });
      }
    });
  return file;
}

/**
 * Debian's signed ARM64 loaders (grub-efi-arm64-signed and, for Secure Boot, shim-signed, both of
 * arch arm64, after `dpkg --add-architecture arm64`) as pinned assets where DHCP's defaults point:
 * the netboot GRUB as `grub/grubaa64.efi` (an aarch64 profile boots it directly, or shim loads it
 * from its own directory), shim as `grub/shimaa64.efi`.
 */
export async function installArm64Loaders(assetsDir: string, opts: { shim: boolean }, cacheDir = DEFAULT_CACHE_DIR): Promise<Record<string, { path: string; sha256: string }>> {
  const files = [{ target: 'grub/grubaa64.efi', source: await arm64PackageFile('grub-efi-arm64-signed', 'usr/lib/grub/arm64-efi-signed/grubnetaa64.efi.signed', cacheDir) }];
  if (opts.shim) files.push({ target: 'grub/shimaa64.efi', source: await arm64PackageFile('shim-signed', 'usr/lib/shim/shimaa64.efi.signed', cacheDir) });
  await mkdir(join(assetsDir, 'grub'), { recursive: true });
  const pinned: Record<string, { path: string; sha256: string }> = {};
  for (const { target, source } of files) {
    await copyFile(source, join(assetsDir, target));
    pinned[target] = { path: target, sha256: await sha256(source) };
  }
  return pinned;
}
