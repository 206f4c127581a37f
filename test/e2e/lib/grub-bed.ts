/**
 * One VM netbooting the GRUB path from kickstand alone (issue 18): a namespace, kickstand with the
 * given loaders and the guest's kernel and initrd as pinned assets (at the profile's arch paths),
 * one machine of a profile with `secureBoot`/`arch`, a reinstall, and the VM, switched on. Shared
 * by the Secure Boot and the ARM64 tests.
 */
import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Test } from 'tap';
import type { StoredEvent } from '../../../server/model/events.js';
import type { GuestImage } from './guest-image.js';
import { E2E_DISK } from './installed-system.js';
import { e2eProfile, startKickstand, type Kickstand } from './kickstand.js';
import { Netns } from './netns.js';
import { sha256 } from './secure-boot.js';
import { Vm } from './vm.js';

export interface Progress {
  state: string;
  phase?: string;
  reason?: string;
  hint?: string;
  events: StoredEvent[];
}

export interface GrubBed {
  ks: Kickstand;
  vm: Vm;
  progress(): Promise<Progress>;
}

export interface GrubBedOptions {
  work: string;
  guest: GuestImage;
  mac: string;
  arch: 'x86_64' | 'aarch64';
  secureBoot: boolean;
  /** Writes the loaders into the assets directory, returns their `assets.files` entries. */
  loaders: (assetsDir: string) => Promise<Record<string, { path: string; sha256: string }>>;
  /** The VM's disk (QEMU arguments), the firmware's second boot option. */
  disk: (vmDir: string) => Promise<string[]>;
  /** The guest's serial console as the kernel names it. */
  console: string;
  memoryMb: number;
  config?: Record<string, unknown>;
}

export async function grubBed(t: Test, o: GrubBedOptions): Promise<GrubBed> {
  const ns = await Netns.create({ taps: 1 });
  t.teardown(() => ns.destroy());
  const assets = join(ns.workDir, 'kickstand', 'assets');
  const dir = o.arch === 'aarch64' ? 'rocky-9/aarch64' : 'rocky-9';
  await mkdir(join(assets, dir), { recursive: true });
  await copyFile(o.guest.kernel, join(assets, dir, 'vmlinuz'));
  await copyFile(o.guest.initrd, join(assets, dir, 'initrd.img'));
  const loaders = await o.loaders(assets);
  const profile = { ...e2eProfile(`e2e-grub-${o.arch}`, 'uefi', { converge: false }), arch: o.arch, secureBoot: o.secureBoot };
  const ks = await startKickstand(ns, {
    guest: o.guest,
    machines: [],
    documents: [profile],
    config: {
      assets: {
        dir: assets,
        files: {
          ...loaders,
          [`${dir}/vmlinuz`]: { path: `${dir}/vmlinuz`, sha256: await sha256(o.guest.kernel) },
          [`${dir}/initrd.img`]: { path: `${dir}/initrd.img`, sha256: await sha256(o.guest.initrd) },
        },
      },
      ...o.config,
    },
  });
  const machine = { name: 'grub-01', profile: profile.name, macs: [o.mac], bmc: { driver: 'manual' }, params: { console: o.console } };
  const created = await ks.api('POST', '/api/v1/machines', { token: ks.token, body: machine });
  if (created.status !== 201) throw new Error(`POST machine: ${created.status} ${created.text}`);
  const reinstall = await ks.api('POST', '/api/v1/machines/grub-01/reinstall', { token: ks.token });
  if (reinstall.status !== 202) throw new Error(`reinstall: ${reinstall.status} ${reinstall.text}`);
  const vmDir = join(o.work, `vm-${Date.now()}`);
  await mkdir(vmDir);
  const vm = await Vm.start({
    ns,
    tap: ns.taps[0],
    mac: o.mac,
    firmware: 'uefi',
    nicRom: 'native',
    secureBoot: o.secureBoot,
    arch: o.arch,
    workDir: vmDir,
    memoryMb: o.memoryMb,
    extraArgs: await o.disk(vmDir),
  });
  t.teardown(() => vm.stop());
  const progress = async (): Promise<Progress> => {
    const r = await ks.api('GET', '/api/v1/machines/grub-01/progress?events=2000', { token: ks.token });
    if (r.status !== 200) throw new Error(`progress: HTTP ${r.status} ${r.text}`);
    return r.json as Progress;
  };
  return { ks, vm, progress };
}

/** A blank or prepared disk image as the VM's second boot option, where the e2e profile's system disk is. */
export function diskArgs(file: string): string[] {
  return ['-drive', `file=${file},format=raw,if=none,id=disk0`, '-device', `virtio-blk-pci,drive=disk0,addr=0x${E2E_DISK.pciSlot.toString(16)}.0,bootindex=2`];
}

/** Polls `probe` every second until it gives a value; the VM's console tail goes into the timeout's message. */
export async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, vm: Vm): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const got = await probe();
    if (got !== undefined) return got;
    if (Date.now() > end) throw new Error(`${what}: not within ${timeoutMs / 1000} s\n${await vm.serialTail(30)}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}
