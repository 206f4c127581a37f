/**
 * The guest of the e2e VMs: Debian's kernel and an initramfs holding static busybox, the virtio
 * network modules and the installer stand-in (test/e2e/guest/). Kernel, busybox and modules come
 * from Debian's packages at test time and are cached by package versions, so only the first run
 * on a machine downloads (~70 MB); the initramfs is assembled fresh each time (well under a
 * second) around a new SSH host key. The stand-in also carries the tools the inventory agent finds
 * in Rocky's installer (lsblk, dmidecode, lldpad and lldptool), copied from this machine with the
 * libraries they load: read fresh on every build, so nothing about them is cached.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { newc, type CpioEntry } from './cpio.js';
import { withLock } from './file-lock.js';
import { hostBinaries } from './host-binaries.js';
import { loadOrder, moduleDepends, moduleName } from './kmod.js';
import { run } from './run.js';

const GUEST_DIR = fileURLToPath(new URL('../guest/', import.meta.url));
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const DEFAULT_CACHE_DIR = process.env.KICKSTAND_E2E_CACHE ?? join(REPO_ROOT, 'var', 'e2e-cache');

export interface GuestImageOptions {
  /** Where the initrd and host key of this run are written. */
  workDir: string;
  cacheDir?: string;
  /** Kernel modules the guest loads at start (with their dependencies). */
  modules?: string[];
  /**
   * Stand-in arguments per MAC (`standin.fail=install`, …), for when a server renders the kernel
   * command line and the test cannot add to it.
   */
  perMac?: Record<string, string>;
  /**
   * The guest's Debian architecture: amd64, or arm64 for the ARM64 e2e (kernel and busybox of
   * arch arm64, after `dpkg --add-architecture arm64`). This machine's inventory tools are amd64
   * binaries, so an arm64 guest goes without them (the agent reads /sys instead).
   */
  arch?: DebianArch;
}

export type DebianArch = 'amd64' | 'arm64';

export interface GuestImage {
  kernel: string;
  initrd: string;
  kernelVersion: string;
  /** The SSH host key baked into this initramfs; the stand-in reports the public half. */
  hostKey: { privateKeyFile: string; publicKey: string };
}

interface BaseManifest {
  kernelVersion: string;
  modules: string[];
}

async function candidateVersion(pkg: string): Promise<string | undefined> {
  const out = await run('apt-cache', ['show', '--no-all-versions', pkg]).catch(() => '');
  return /^Version: (.+)$/m.exec(out)?.[1];
}

/** A package name of that architecture as apt takes it (`pkg:arm64`; the native one bare). */
const archPkg = (pkg: string, arch: DebianArch) => (arch === 'amd64' ? pkg : `${pkg}:${arch}`);

async function kernelPackage(arch: DebianArch): Promise<string | undefined> {
  const out = await run('apt-cache', ['depends', archPkg(`linux-image-${arch}`, arch)]).catch(() => '');
  const name = new RegExp(`Depends: (linux-image-\\S+-${arch})`).exec(out)?.[1];
  return name && archPkg(name, arch);
}

/**
 * arm64 packages need the foreign architecture in dpkg and its lists in apt: done once,
 * idempotently (root; the e2e tests run as root).
 */
export async function addArchitecture(arch: DebianArch, lockFile: string): Promise<void> {
  if (arch === 'amd64') return;
  const foreign = await run('dpkg', ['--print-foreign-architectures']);
  if (foreign.split('\n').includes(arch)) return;
  await withLock(lockFile, async () => {
    await run('dpkg', ['--add-architecture', arch]);
    await run('apt-get', ['update', '-qq']);
  });
}

/**
 * `pkg=version` of the kernel and busybox-static. A fresh machine's empty apt lists are fetched
 * once, under a lock: parallel test files would otherwise trip over apt's own lock.
 */
async function packageVersions(lockFile: string, arch: DebianArch): Promise<string[]> {
  await addArchitecture(arch, lockFile);
  const busybox = archPkg('busybox-static', arch);
  for (let attempt = 0; ; attempt++) {
    const kernel = await kernelPackage(arch);
    const versions = kernel ? [await candidateVersion(kernel), await candidateVersion(busybox)] : [];
    if (kernel && versions.every(Boolean)) return [`${kernel}=${versions[0]}`, `${busybox}=${versions[1]}`];
    if (attempt > 0) throw new Error(`apt knows no linux-image-${arch} / ${busybox} even after apt-get update`);
    await withLock(lockFile, () => run('apt-get', ['update', '-qq']));
  }
}

async function* walk(dir: string): AsyncGenerator<string> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(path);
    else yield path;
  }
}

/** Downloads and unpacks the packages into a scratch dir and keeps only what the guest needs. */
async function buildBase(dir: string, packages: string[], roots: string[]): Promise<void> {
  const tmp = await mkdtemp(`${dir}.tmp-`);
  try {
    await run('apt-get', ['download', '-q', ...packages], { cwd: tmp });
    for (const deb of (await readdir(tmp)).filter((f) => f.endsWith('.deb'))) await run('dpkg-deb', ['-x', join(tmp, deb), join(tmp, 'x')]);
    const x = join(tmp, 'x');
    const [kernelVersion] = await readdir(join(x, 'lib', 'modules'));
    const modRoot = join(x, 'lib', 'modules', kernelVersion);
    const files = new Map<string, string>();
    for await (const f of walk(join(modRoot, 'kernel'))) if (f.endsWith('.ko')) files.set(moduleName(f), f);
    const builtin = new Set((await readFile(join(modRoot, 'modules.builtin'), 'utf8')).split('\n').filter(Boolean).map(moduleName));
    const fileOf = (name: string): string => {
      const file = files.get(name);
      if (!file) throw new Error(`kernel ${kernelVersion} has no module ${name}`);
      return file;
    };
    const order = loadOrder(roots, (name) => moduleDepends(readFileSync(fileOf(name))), (name) => builtin.has(name));

    const out = join(tmp, 'out');
    await mkdir(join(out, 'modules'), { recursive: true });
    await copyFile(join(x, 'boot', `vmlinuz-${kernelVersion}`), join(out, 'vmlinuz'));
    await copyFile(join(x, 'bin', 'busybox'), join(out, 'busybox'));
    for (const name of order) await copyFile(fileOf(name), join(out, 'modules', `${name}.ko`));
    const manifest: BaseManifest = { kernelVersion, modules: order };
    await writeFile(join(out, 'manifest.json'), JSON.stringify(manifest));
    await rename(out, dir);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Kernel, busybox and modules for the current Debian package versions, built once per cache. */
/**
 * The network card, and the disk with its FAT partition (the stand-in writes the installed system
 * there; the installed system reads it back). vfat mounts with codepage 437 and iocharset ascii,
 * the Debian kernel's defaults.
 */
export const DEFAULT_MODULES = ['virtio_pci', 'virtio_net', 'virtio_blk', 'vfat', 'nls_cp437', 'nls_ascii'];

export async function guestBase(cacheDir = DEFAULT_CACHE_DIR, modules = DEFAULT_MODULES, arch: DebianArch = 'amd64'): Promise<GuestBase> {
  await mkdir(cacheDir, { recursive: true });
  const packages = await packageVersions(join(cacheDir, 'apt-update.lock'), arch);
  const key = createHash('sha256').update(JSON.stringify({ packages, modules })).digest('hex').slice(0, 16);
  const dir = join(cacheDir, `guest-${key}`);
  if (!existsSync(dir)) await withLock(`${dir}.lock`, async () => existsSync(dir) || buildBase(dir, packages, modules));
  const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as BaseManifest;
  return { dir, manifest };
}

export interface GuestBase {
  dir: string;
  manifest: BaseManifest;
}

async function guestFile(name: string): Promise<string> {
  return readFile(join(GUEST_DIR, name), 'utf8');
}

/**
 * What every initramfs of the e2e guests holds: busybox as /bin/sh (Debian's static one unless
 * another is given), the kernel modules in load order, the DHCP hook, and `init` (the stand-in's
 * or the installed system's).
 */
export async function commonEntries({ dir, manifest }: GuestBase, init: string, busybox?: Buffer): Promise<CpioEntry[]> {
  const dirs = ['bin', 'dev', 'etc', 'lib/modules', 'mnt', 'proc', 'root', 'sys', 'tmp'];
  return [
    ...dirs.map((path): CpioEntry => ({ path, kind: 'dir' })),
    { path: 'dev/console', kind: 'chardev', major: 5, minor: 1 },
    { path: 'bin/busybox', kind: 'file', data: busybox ?? (await readFile(join(dir, 'busybox'))), mode: 0o755 },
    { path: 'bin/sh', kind: 'symlink', target: 'busybox' },
    { path: 'init', kind: 'file', data: await guestFile(init), mode: 0o755 },
    { path: 'etc/udhcpc.script', kind: 'file', data: await guestFile('udhcpc.script'), mode: 0o755 },
    { path: 'etc/modules.order', kind: 'file', data: manifest.modules.join('\n') + '\n' },
    ...(await Promise.all(manifest.modules.map(async (name): Promise<CpioEntry> => ({ path: `lib/modules/${name}.ko`, kind: 'file', data: await readFile(join(dir, 'modules', `${name}.ko`)) })))),
  ];
}

/**
 * What Rocky 9's installer runtime offers the inventory agent, from this machine's Debian packages
 * (the same release as the guest's kernel): util-linux's lsblk, dmidecode, and lldpad with its
 * lldptool (Rocky has them from fcoe-utils' dependencies). lldpad keeps its state in
 * /var/lib/lldpad and its pid file in /var/run (a link to /run, as on Rocky).
 */
const INVENTORY_TOOLS = [
  { path: '/usr/bin/lsblk', pkg: 'util-linux' },
  { path: '/usr/sbin/dmidecode', pkg: 'dmidecode' },
  { path: '/usr/sbin/lldpad', pkg: 'lldpad' },
  { path: '/usr/sbin/lldptool', pkg: 'lldpad' },
];

/** Builds the installer stand-in's initramfs (and fetches its kernel) for one test run. */
export async function guestImage(opts: GuestImageOptions): Promise<GuestImage> {
  const arch = opts.arch ?? 'amd64';
  const base = await guestBase(opts.cacheDir, opts.modules, arch);
  await mkdir(opts.workDir, { recursive: true });
  const privateKeyFile = join(opts.workDir, 'ssh_host_ed25519_key');
  await rm(privateKeyFile, { force: true });
  await rm(`${privateKeyFile}.pub`, { force: true });
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'kickstand-e2e-guest', '-f', privateKeyFile]);
  const publicKey = (await readFile(`${privateKeyFile}.pub`, 'utf8')).trim();

  const entries: CpioEntry[] = [
    ...(await commonEntries(base, 'init')),
    { path: 'etc/standin', kind: 'dir' },
    { path: 'bin/curl', kind: 'file', data: await guestFile('curl'), mode: 0o755 },
    { path: 'etc/ssh/ssh_host_ed25519_key', kind: 'file', data: await readFile(privateKeyFile), mode: 0o600 },
    { path: 'etc/ssh/ssh_host_ed25519_key.pub', kind: 'file', data: publicKey + '\n' },
    ...(arch === 'amd64' ? await hostBinaries(INVENTORY_TOOLS) : []),
    { path: 'run', kind: 'dir' },
    { path: 'var/run', kind: 'symlink', target: '../run' },
    { path: 'var/lib/lldpad', kind: 'dir' },
  ];
  for (const [mac, args] of Object.entries(opts.perMac ?? {})) entries.push({ path: `etc/standin/${mac.toLowerCase()}`, kind: 'file', data: `${args}\n` });

  const initrd = join(opts.workDir, 'initrd.gz');
  await writeFile(initrd, gzipSync(newc(entries), { level: 6 }));
  return { kernel: join(base.dir, 'vmlinuz'), initrd, kernelVersion: base.manifest.kernelVersion, hostKey: { privateKeyFile, publicKey } };
}
