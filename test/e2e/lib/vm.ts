/**
 * One QEMU guest on a tap of a Netns: TCG only (KVM crashes under the nested hypervisor here),
 * BIOS (SeaBIOS) or UEFI (OVMF), network boot first, serial console to a file, a QMP socket for
 * power control (the fake BMC drives it), and `-no-shutdown` so a powered-off guest keeps its
 * process, as a real machine keeps its BMC.
 *
 * NIC boot firmware:
 * - 'ipxe': QEMU's default NIC option ROM, which is iPXE (DHCP user class "iPXE").
 * - 'native': no option ROM (`romfile=`), so the platform's own PXE stack boots: OVMF's UEFI PXE
 *   does DHCP + TFTP of the iPXE binary, which then chains over HTTP. SeaBIOS has no PXE stack of
 *   its own, so this path exists for UEFI only.
 */
import { copyFile, readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChildProcess } from 'node:child_process';
import type { Netns } from './netns.js';

export type Firmware = 'bios' | 'uefi';
export type NicRom = 'ipxe' | 'native';

export interface VmOptions {
  ns: Netns;
  tap: string;
  mac: string;
  firmware: Firmware;
  nicRom?: NicRom;
  /** Files for serial.log, qmp.sock and the UEFI variable store. */
  workDir: string;
  memoryMb?: number;
  /** Extra QEMU arguments (disks, …); the NIC keeps bootindex 1. */
  extraArgs?: string[];
  /**
   * SMBIOS type 1 (system information), as dmidecode and /sys/class/dmi/id show it:
   * `-smbios type=1,manufacturer=…,product=…,version=…,serial=…,uuid=…,sku=…,family=…`.
   */
  smbios?: SmbiosSystem;
  /** Blank data disks: sparse raw files in workDir (data0.img, …), virtio-blk, never in the boot order. */
  disks?: DataDisk[];
  /**
   * UEFI Secure Boot on, as Debian's ovmf documents it: the firmware build with Microsoft's keys
   * enrolled (OVMF_CODE_4M.ms.fd + OVMF_VARS_4M.ms.fd), q35 with SMM, the variable store secure.
   */
  secureBoot?: boolean;
  /**
   * aarch64: qemu-system-aarch64 (TCG), the `virt` machine with a Cortex-A57 and AAVMF (Debian's
   * qemu-efi-aarch64; with secureBoot its Microsoft-keys build); UEFI only, serial on the PL011
   * (ttyAMA0 in the guest).
   */
  arch?: 'x86_64' | 'aarch64';
}

export interface SmbiosSystem {
  manufacturer?: string;
  product?: string;
  version?: string;
  serial?: string;
  /** The system UUID (also what the firmware reports as the machine's UUID). */
  uuid?: string;
  sku?: string;
  family?: string;
}

export interface DataDisk {
  sizeMb: number;
  /** The virtio-blk serial (at most 20 bytes, QEMU cuts the rest): the guest's /sys/block/vdX/serial. */
  serial?: string;
  /**
   * PCI slot on the root bus (q35's pcie.0), so the guest's PCI address, and with it udev's
   * by-path name, is known: slot 0x0a is 0000:00:0a.0. Default: QEMU's next free slot.
   */
  pciSlot?: number;
}

const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';
const OVMF_CODE_MS = '/usr/share/OVMF/OVMF_CODE_4M.ms.fd';
const OVMF_VARS_MS = '/usr/share/OVMF/OVMF_VARS_4M.ms.fd';
const AAVMF_CODE = '/usr/share/AAVMF/AAVMF_CODE.fd';
const AAVMF_VARS = '/usr/share/AAVMF/AAVMF_VARS.fd';
const AAVMF_CODE_MS = '/usr/share/AAVMF/AAVMF_CODE.ms.fd';
const AAVMF_VARS_MS = '/usr/share/AAVMF/AAVMF_VARS.ms.fd';

/** A value inside a QEMU option list: commas are doubled. */
function qemuValue(v: string): string {
  return v.replace(/,/g, ',,');
}

function paths(workDir: string) {
  return { serialLog: join(workDir, 'serial.log'), qmpSocket: join(workDir, 'qmp.sock') };
}

export class Vm {
  readonly serialLog: string;
  readonly qmpSocket: string;
  readonly exited: Promise<void>;
  private stderrTail = '';

  private constructor(
    readonly opts: VmOptions,
    private readonly child: ChildProcess,
    /** When QEMU was started (performance.now() clock). */
    readonly startedAt: number,
  ) {
    ({ serialLog: this.serialLog, qmpSocket: this.qmpSocket } = paths(opts.workDir));
    child.stderr?.on('data', (d) => (this.stderrTail = (this.stderrTail + d).slice(-4000)));
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  /** QEMU's own complaints (bad arguments, tap busy, …). */
  stderr(): string {
    return this.stderrTail;
  }

  static async start(opts: VmOptions): Promise<Vm> {
    const nicRom = opts.nicRom ?? 'ipxe';
    if (nicRom === 'native' && opts.firmware === 'bios') throw new Error('SeaBIOS has no PXE stack of its own: the native-firmware path needs UEFI');
    const { serialLog, qmpSocket } = paths(opts.workDir);
    const firmware: string[] = [];
    const arm = opts.arch === 'aarch64';
    if (opts.secureBoot && opts.firmware !== 'uefi') throw new Error('Secure Boot needs UEFI');
    if (arm && (opts.firmware !== 'uefi' || nicRom !== 'native')) throw new Error('aarch64 VMs: UEFI (AAVMF) with its own PXE');
    if (arm) {
      // Secure Boot: the AAVMF build with Microsoft's keys enrolled (no SMM on ARM).
      const vars = join(opts.workDir, 'AAVMF_VARS.fd');
      await copyFile(opts.secureBoot ? AAVMF_VARS_MS : AAVMF_VARS, vars);
      const code = opts.secureBoot ? AAVMF_CODE_MS : AAVMF_CODE;
      firmware.push('-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${code}`, '-drive', `if=pflash,format=raw,unit=1,file=${vars}`);
    } else if (opts.firmware === 'uefi') {
      const vars = join(opts.workDir, 'OVMF_VARS.fd');
      await copyFile(opts.secureBoot ? OVMF_VARS_MS : OVMF_VARS, vars);
      const code = opts.secureBoot ? OVMF_CODE_MS : OVMF_CODE;
      firmware.push('-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${code}`, '-drive', `if=pflash,format=raw,unit=1,file=${vars}`);
      if (opts.secureBoot) firmware.push('-global', 'driver=cfi.pflash01,property=secure,value=on');
      // PXE over IPv6 off, as in many racks' firmware settings: the namespace sends router
      // advertisements but runs no DHCPv6, so OVMF's PXEv6 boot option would only wait out its
      // timeout on every boot that goes on to the disk.
      firmware.push('-fw_cfg', 'name=opt/org.tianocore/IPv6PXESupport,string=no');
    }
    const nic = `virtio-net-pci,netdev=n0,mac=${opts.mac},bootindex=1${nicRom === 'native' ? ',romfile=' : ''}`;
    const smbios = opts.smbios ? ['-smbios', `type=1${Object.entries(opts.smbios).filter(([, v]) => v !== undefined).map(([k, v]) => `,${k}=${qemuValue(String(v))}`).join('')}`] : [];
    const disks: string[] = [];
    for (const [i, d] of (opts.disks ?? []).entries()) {
      const file = join(opts.workDir, `data${i}.img`);
      await writeFile(file, '');
      await truncate(file, d.sizeMb * 1024 * 1024);
      const props = [`drive=data${i}`, ...(d.serial ? [`serial=${qemuValue(d.serial)}`] : []), ...(d.pciSlot !== undefined ? [`addr=0x${d.pciSlot.toString(16)}.0`] : [])];
      disks.push('-drive', `file=${qemuValue(file)},format=raw,if=none,id=data${i}`, '-device', `virtio-blk-pci,${props.join(',')}`);
    }
    const args = [
      ...(arm ? ['-machine', 'virt', '-cpu', 'cortex-a57'] : ['-machine', opts.secureBoot ? 'q35,smm=on' : 'q35']),
      ...['-accel', 'tcg', '-m', String(opts.memoryMb ?? 512), '-smp', '1'],
      ...['-nographic', '-vga', 'none', '-nodefaults', '-monitor', 'none'],
      ...['-serial', `file:${serialLog}`, '-qmp', `unix:${qmpSocket},server=on,wait=off`, '-no-shutdown'],
      ...firmware,
      ...['-netdev', `tap,id=n0,ifname=${opts.tap},script=no,downscript=no`, '-device', nic],
      ...smbios,
      ...disks,
      ...(opts.extraArgs ?? []),
    ];
    const startedAt = performance.now();
    const child = opts.ns.spawn(arm ? 'qemu-system-aarch64' : 'qemu-system-x86_64', args);
    return new Vm(opts, child, startedAt);
  }

  async serial(): Promise<string> {
    return readFile(this.serialLog, 'latin1').catch(() => '');
  }

  /**
   * The last `lines` of the console as plain text, for a test's diagnostics: firmware menus draw
   * with ANSI escapes and control characters, which garble a TAP comment.
   */
  async serialTail(lines: number): Promise<string> {
    const text = (await this.serial()).replace(/\x1b(\[[0-9;=?]*[A-Za-z]|c)/g, '').replace(/[^\n\t\x20-\x7e]/g, '');
    return text.split('\n').filter((l) => l.trim()).slice(-lines).join('\n');
  }

  /** Waits until the serial console shows `pattern`; rejects on timeout or QEMU exit. */
  async waitForSerial(pattern: RegExp, timeoutMs: number): Promise<string> {
    const until = Date.now() + timeoutMs;
    let dead = false;
    void this.exited.then(() => (dead = true));
    for (;;) {
      const text = await this.serial();
      const m = pattern.exec(text);
      if (m) return m[0];
      if (dead) throw new Error(`QEMU exited before ${pattern} appeared: ${this.stderr()}`);
      if (Date.now() > until) throw new Error(`${pattern} not on the serial console within ${timeoutMs} ms`);
      await sleep(200);
    }
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    const killer = setTimeout(() => this.child.kill('SIGKILL'), 3000);
    await this.exited;
    clearTimeout(killer);
  }
}
