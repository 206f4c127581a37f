import type { Profile } from '../model/profile.js';

/**
 * The profile's disk layout as kickstart partitioning commands: plain partitions on one disk,
 * or the same partitions on both disks of a RAID1 pair assembled with `raid`, then one LVM
 * volume group on the remaining space and the data disks used whole.
 */
export interface PartLine {
  mount: string;
  fstype: string | null;
  sizeMiB: number;
  grow: boolean;
  ondisk: string;
  label: string | null;
}

export interface RaidLine {
  mount: string;
  device: string;
  fstype: string | null;
  members: string;
}

export interface LogvolLine {
  mount: string;
  name: string;
  fstype: string;
  sizeMiB: number;
  grow: boolean;
}

export interface StoragePlan {
  /** every disk the install touches, by stable path */
  drives: string;
  bootDrive: string;
  parts: PartLine[];
  raids: RaidLine[];
  volumeGroup: { name: string; pv: string };
  logvols: LogvolLine[];
}

/** A system partition before it is placed: on each disk for RAID1, once for a single disk. */
interface SystemPart {
  mount: string;
  raidDevice: string;
  fstype: string | null;
  sizeMiB: number;
  grow: boolean;
  /** biosboot is needed on every disk that may boot and is never mirrored */
  perDisk?: boolean;
}

const PV = 'pv.01';

export function systemParts(profile: Profile): SystemPart[] {
  const s = profile.storage;
  const firmwarePart: SystemPart =
    profile.firmware === 'uefi'
      ? // kickstart has no metadata option: anaconda creates an EFI array with metadata 1.0 itself
        // (superblock at the end), so the firmware sees a plain FAT partition on each disk
        { mount: '/boot/efi', raidDevice: 'boot_efi', fstype: 'efi', sizeMiB: s.efiSizeMiB, grow: false }
      : { mount: 'biosboot', raidDevice: 'biosboot', fstype: 'biosboot', sizeMiB: 1, grow: false, perDisk: true };
  return [
    firmwarePart,
    { mount: '/boot', raidDevice: 'boot', fstype: 'xfs', sizeMiB: s.bootSizeMiB, grow: false },
    { mount: PV, raidDevice: 'pv01', fstype: null, sizeMiB: 1, grow: true },
  ];
}

export function planStorage(profile: Profile): StoragePlan {
  const s = profile.storage;
  const path = (role: string) => profile.disks.find((d) => d.name === role)?.path ?? role;
  const system = s.disks.map(path);
  const parts: PartLine[] = [];
  const raids: RaidLine[] = [];
  const place = (mount: string, p: SystemPart, ondisk: string): PartLine => ({
    mount,
    fstype: p.fstype,
    sizeMiB: p.sizeMiB,
    grow: p.grow,
    ondisk,
    label: null,
  });

  systemParts(profile).forEach((p, i) => {
    if (s.layout === 'single' || p.perDisk) {
      for (const disk of s.layout === 'single' ? system.slice(0, 1) : system) parts.push(place(p.mount, p, disk));
      return;
    }
    const members = system.map((disk, d) => {
      const name = `raid.${i + 1}${d + 1}`;
      parts.push({ ...place(name, p, disk), fstype: null });
      return name;
    });
    raids.push({ mount: p.mount, device: p.raidDevice, fstype: p.fstype, members: members.join(' ') });
  });

  for (const v of s.data)
    parts.push({ mount: v.mount, fstype: v.fstype, sizeMiB: 1, grow: true, ondisk: path(v.disk), label: v.label ?? null });

  const logvols = s.volumes.map((v) => ({
    mount: v.mount,
    name: v.name,
    fstype: v.fstype,
    sizeMiB: v.sizeGiB ? Math.round(v.sizeGiB * 1024) : 1,
    grow: v.grow,
  }));

  return {
    drives: [...system, ...s.data.map((v) => path(v.disk))].join(','),
    bootDrive: system[0],
    parts,
    raids,
    volumeGroup: { name: s.volumeGroup, pv: PV },
    logvols,
  };
}
