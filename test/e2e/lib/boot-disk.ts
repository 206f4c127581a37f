/**
 * A disk that boots by itself in both firmwares, built without mounting anything (the tests must
 * not depend on loop devices): an MBR with one active EFI-system partition holding a FAT file
 * system, made with mkfs.fat and filled with mtools.
 * - BIOS: syslinux's MBR code boots the active partition, whose boot sector `syslinux --offset`
 *   writes; syslinux.cfg starts the kernel with the initrd. This is what iPXE's `sanboot --drive
 *   0x80` (the local-boot script) hands over to.
 * - UEFI: \EFI\BOOT\BOOTX64.EFI is a unified kernel image (systemd's stub with the kernel, initrd
 *   and command line as PE sections), which OVMF starts from the disk's boot option once iPXE's
 *   local-boot script `exit`s.
 * The same disk serves both, so a test picks the firmware and nothing else.
 */
import { open, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from './run.js';

const SECTOR = 512;
/** The partition starts at 1 MiB, as partitioning tools align it. */
const START_SECTOR = 2048;
const SYSLINUX_MBR = '/usr/lib/syslinux/mbr/mbr.bin';
const EFI_STUB = '/usr/lib/systemd/boot/efi/linuxx64.efi.stub';

/** Marker file: the installer stand-in (guest/init, by this name) writes only to a disk that carries it. */
const DISK_MARKER = 'KSE2E.DSK';

export interface BootDiskOptions {
  /** The image file to write (sparse). */
  file: string;
  sizeMiB?: number;
  kernel: string;
  initrd: string;
  cmdline: string;
  /** Scratch dir for the config files and the UKI. */
  workDir: string;
}

/**
 * The MBR partition table: one active entry of type 0xEF (EFI system) from START_SECTOR to the end
 * of the disk, LBA only (the CHS fields say "use LBA", as for any disk past 8 GB), and the boot
 * signature. The first 440 bytes (boot code) are left to the caller.
 */
function mbrPartitionTable(totalSectors: number): Buffer {
  const table = Buffer.alloc(SECTOR - 446);
  table[0] = 0x80;
  table.set([0xfe, 0xff, 0xff], 1);
  table[4] = 0xef;
  table.set([0xfe, 0xff, 0xff], 5);
  table.writeUInt32LE(START_SECTOR, 8);
  table.writeUInt32LE(totalSectors - START_SECTOR, 12);
  table[64] = 0x55;
  table[65] = 0xaa;
  return table;
}

function syslinuxCfg(cmdline: string): string {
  return ['SERIAL 0 115200', 'DEFAULT installed', 'PROMPT 0', 'TIMEOUT 0', 'LABEL installed', '  LINUX /vmlinuz', '  INITRD /initrd.img', `  APPEND ${cmdline}`, ''].join('\n');
}

/**
 * The classic objcopy recipe for systemd ≤ 253 stubs: each payload is a PE section at a fixed
 * address well past the stub's own; the kernel must stay under 16 MiB (the gap to .initrd).
 */
async function unifiedKernelImage(o: BootDiskOptions, out: string): Promise<void> {
  const cmdlineFile = join(o.workDir, 'cmdline.txt');
  const osrel = join(o.workDir, 'os-release');
  await writeFile(cmdlineFile, o.cmdline);
  await writeFile(osrel, 'ID=kickstand-e2e\nPRETTY_NAME="kickstand e2e installed system"\n');
  const kernelBytes = (await readFile(o.kernel)).length;
  if (kernelBytes >= 0x1000000) throw new Error(`kernel of ${kernelBytes} bytes does not fit below the UKI's .initrd section`);
  await run('objcopy', [
    ...['--add-section', `.osrel=${osrel}`, '--change-section-vma', '.osrel=0x20000'],
    ...['--add-section', `.cmdline=${cmdlineFile}`, '--change-section-vma', '.cmdline=0x30000'],
    ...['--add-section', `.linux=${o.kernel}`, '--change-section-vma', '.linux=0x2000000'],
    ...['--add-section', `.initrd=${o.initrd}`, '--change-section-vma', '.initrd=0x3000000'],
    EFI_STUB,
    out,
  ]);
}

/**
 * A sparse disk image `file` with one EFI-system partition holding an empty FAT16 file system;
 * returns the mtools image spec of that file system (`file@@offset`, for `mcopy -i`).
 */
export async function emptyEspDisk(file: string, sizeMiB = 64): Promise<string> {
  const totalSectors = (sizeMiB * 1024 * 1024) / SECTOR;
  await rm(file, { force: true });
  const fd = await open(file, 'w');
  try {
    await fd.truncate(totalSectors * SECTOR);
    await fd.write(mbrPartitionTable(totalSectors), 0, SECTOR - 446, 446);
  } finally {
    await fd.close();
  }
  const fsKiB = String(((totalSectors - START_SECTOR) * SECTOR) / 1024);
  // -h: the hidden-sectors field, where syslinux's boot sector finds its partition's start.
  await run('mkfs.fat', ['-F', '16', '-n', 'KSE2E', '-h', String(START_SECTOR), '--offset', String(START_SECTOR), file, fsKiB]);
  return `${file}@@${START_SECTOR * SECTOR}`;
}

export async function buildBootDisk(o: BootDiskOptions): Promise<string> {
  const fat = await emptyEspDisk(o.file, o.sizeMiB);
  const uki = join(o.workDir, 'BOOTX64.EFI');
  const cfg = join(o.workDir, 'syslinux.cfg');
  const marker = join(o.workDir, DISK_MARKER);
  await unifiedKernelImage(o, uki);
  await writeFile(cfg, syslinuxCfg(o.cmdline));
  await writeFile(marker, 'kickstand e2e installed-system disk\n');
  await run('mmd', ['-i', fat, '::/EFI', '::/EFI/BOOT', '::/syslinux']);
  await run('mcopy', ['-i', fat, o.kernel, '::/vmlinuz']);
  await run('mcopy', ['-i', fat, o.initrd, '::/initrd.img']);
  await run('mcopy', ['-i', fat, uki, '::/EFI/BOOT/BOOTX64.EFI']);
  await run('mcopy', ['-i', fat, cfg, '::/syslinux/syslinux.cfg']);
  await run('mcopy', ['-i', fat, marker, `::/${DISK_MARKER}`]);
  await run('syslinux', ['--offset', String(START_SECTOR * SECTOR), '--directory', '/syslinux', '--install', o.file]);
  await run('dd', [`if=${SYSLINUX_MBR}`, `of=${o.file}`, 'bs=440', 'count=1', 'conv=notrunc', 'status=none']);
  return o.file;
}
