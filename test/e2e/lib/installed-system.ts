/**
 * The e2e VMs' "installed system": a boot disk (boot-disk.ts) whose kernel is the guest's Debian
 * kernel and whose initramfs is a small host OS: static busybox, this machine's OpenSSH sshd and
 * bash with the shared libraries they load, and the converge shims (test/converge/shims.ts) for
 * dnf, rpm, systemctl and podman. What makes it *this* machine's system (the host key the
 * installer reported, root's authorized_keys from the kickstart's `sshkey`, the hostname) is not
 * in the image: the installer stand-in writes it onto the disk (guest/installed-init).
 */
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { hostShims } from '../../converge/shims.js';
import { buildBootDisk } from './boot-disk.js';
import { newc, type CpioEntry } from './cpio.js';
import { commonEntries, guestBase } from './guest-image.js';
import { run } from './run.js';

/**
 * Where every e2e VM has its disk, PCI slot 4: the installed-system disk, or a blank one
 * (`Vm.start({ disks: [{ sizeMb, pciSlot: E2E_DISK.pciSlot }] })`). The e2e profile names this
 * path, and the install's %pre report must find it there (the fit check).
 */
export const E2E_DISK = { path: '/dev/disk/by-path/pci-0000:00:04.0', pciSlot: 4 };

/** Where the shims keep their state: under /var, which an orderly reboot writes back to disk. */
const SHIM_STATE = '/var/lib/kickstand-e2e';
/** Units the "OS" ships, so the converger's service steps have something to manage. */
const INSTALLED_UNITS = ['chronyd'];
/**
 * This machine's busybox, not the guest base's static one: Debian builds busybox-static to prefer
 * its own applets over PATH, so its `rpm` applet would shadow the rpm shim.
 */
const BUSYBOX = '/bin/busybox';
const BINARIES = ['/usr/sbin/sshd', '/bin/bash', BUSYBOX];

/**
 * `systemctl reboot` on the installed system: write the state back to the disk (the root is a
 * RAM disk), then reset, in the background so that the shim returns first as systemctl does.
 */
const REBOOT = `( sleep 0.5
  tar -czf /boot/sysimage.new -C / etc root var && mv /boot/sysimage.new /boot/sysimage.tgz
  sync; umount /boot; reboot -f ) </dev/null >/dev/null 2>&1 &`;

const SSHD_CONFIG = `# The installed system's sshd: root by key only, as the kickstart's sshkey line sets it up.
HostKey /etc/ssh/ssh_host_ed25519_key
PidFile /run/sshd.pid
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
AuthorizedKeysFile .ssh/authorized_keys
Subsystem sftp internal-sftp
SetEnv PATH=/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin
LogLevel VERBOSE
`;

const ACCOUNTS: Record<string, string> = {
  'etc/passwd': 'root:x:0:0:root:/root:/bin/sh\nsshd:x:100:65534::/run/sshd:/usr/sbin/nologin\n',
  'etc/group': 'root:x:0:\nnogroup:x:65534:\n',
  // '*' (no password, not locked): sshd refuses key logins to a locked ('!') account.
  'etc/shadow': 'root:*:19000:0:99999:7:::\nsshd:*:19000:0:99999:7:::\n',
  'etc/nsswitch.conf': 'passwd: files\ngroup: files\nshadow: files\nhosts: files\n',
};

/** The binaries and every shared library `ldd` says they load, at the same paths as here. */
async function hostBinaries(paths: string[]): Promise<CpioEntry[]> {
  const files = new Set(paths);
  for (const bin of paths) {
    for (const line of (await run('ldd', [bin])).split('\n')) {
      const lib = /=> (\/\S+)/.exec(line)?.[1] ?? /^\s*(\/\S+) \(0x/.exec(line)?.[1];
      if (lib) files.add(lib);
    }
  }
  return Promise.all([...files].map(async (path): Promise<CpioEntry> => ({ path, kind: 'file', data: await readFile(path), mode: 0o755 })));
}

export interface InstalledSystemDisk {
  /** A copy of the disk for one VM, with the QEMU arguments that attach it after the NIC in boot order. */
  copyFor(dir: string): Promise<{ qemuArgs: string[] }>;
}

export async function installedSystemDisk(opts: { workDir: string; cacheDir?: string }): Promise<InstalledSystemDisk> {
  const base = await guestBase(opts.cacheDir);
  await mkdir(opts.workDir, { recursive: true });
  const entries: CpioEntry[] = [
    ...(await commonEntries(base, 'installed-init', await readFile(BUSYBOX))),
    { path: 'run', kind: 'dir' },
    { path: 'var/log', kind: 'dir' },
    { path: 'root', kind: 'dir', mode: 0o700 },
    ...(await hostBinaries(BINARIES)).filter((e) => e.path !== BUSYBOX),
    { path: 'etc/ssh/sshd_config', kind: 'file', data: SSHD_CONFIG },
    ...Object.entries(ACCOUNTS).map(([path, data]): CpioEntry => ({ path, kind: 'file', data, mode: path === 'etc/shadow' ? 0o600 : 0o644 })),
    ...Object.entries(hostShims(SHIM_STATE, REBOOT)).map(([name, data]): CpioEntry => ({ path: `usr/local/sbin/${name}`, kind: 'file', data, mode: 0o755 })),
    ...['pkgs', 'units', 'containers'].map((d): CpioEntry => ({ path: `${SHIM_STATE.slice(1)}/${d}`, kind: 'dir' })),
    { path: `${SHIM_STATE.slice(1)}/calls.log`, kind: 'file', data: '' },
    ...INSTALLED_UNITS.map((u): CpioEntry => ({ path: `${SHIM_STATE.slice(1)}/units/${u}.unit`, kind: 'file', data: '' })),
  ];
  const initrd = join(opts.workDir, 'installed-initrd.gz');
  await writeFile(initrd, gzipSync(newc(entries), { level: 6 }));
  const template = await buildBootDisk({
    file: join(opts.workDir, 'installed-disk.img'),
    kernel: join(base.dir, 'vmlinuz'),
    initrd,
    cmdline: 'console=ttyS0 quiet panic=10',
    workDir: opts.workDir,
  });
  return {
    copyFor: async (dir) => {
      const file = join(dir, 'disk.img');
      await copyFile(template, file);
      // In the slot the e2e profile's disk path names (E2E_DISK): the install's report must find it there.
      return { qemuArgs: ['-drive', `file=${file},format=raw,if=none,id=disk0`, '-device', `virtio-blk-pci,drive=disk0,bootindex=2,addr=0x${E2E_DISK.pciSlot.toString(16)}.0`] };
    },
  };
}
