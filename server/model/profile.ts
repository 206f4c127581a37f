import { z } from 'zod';
import { ConvergeStep } from './converge-steps.js';
import { ABSOLUTE_PATH, AbsolutePath, CryptHash, DnsName, HttpUrl, Ident, IPv4, PosixName, SshPublicKey, StableDiskPath } from './primitives.js';

/**
 * A hardware profile is shared by many identical machines, so it never holds a MAC:
 * NICs are named by role (data0, data1…) and each machine maps roles to its MACs.
 */
export const Disk = z.object({
  name: Ident.describe('role of the disk inside the profile, e.g. sys0'),
  path: StableDiskPath,
  sizeGiB: z.number().positive().optional().describe('when known, lint checks that the layout fits'),
});

/**
 * Every string below reaches a rendered file (kickstart command lines, the iPXE kernel line,
 * Ignition and its systemd units) or the converger, and is anchored to its own alphabet at both
 * ends; server/render/lint.ts checks the same again on what is stored, and
 * test/render/injection.test.ts tries every field with line breaks, quotes and expansions.
 */
const Mountpoint = AbsolutePath.describe('absolute mountpoint');

export const LogicalVolume = z.object({
  name: Ident,
  mount: z
    .string()
    .refine((m) => m === 'swap' || ABSOLUTE_PATH.test(m), 'absolute mountpoint (letters, digits and _ . @ + , : = ~ -; no "..", spaces or quotes) or "swap"'),
  fstype: z.enum(['xfs', 'ext4', 'swap']).default('xfs'),
  sizeGiB: z.number().positive().optional(),
  grow: z.boolean().default(false).describe('take the remaining space of the volume group'),
});

export const DataVolume = z.object({
  disk: Ident.describe('a disk of this profile, used whole'),
  mount: Mountpoint,
  fstype: z.enum(['xfs', 'ext4']).default('xfs'),
  label: z.string().regex(/^[A-Za-z0-9_-]{1,16}$/).optional(),
});

export const Storage = z.object({
  layout: z.enum(['single', 'raid1']).default('single'),
  disks: z.array(Ident).min(1).max(2).describe('system disks by role: one for single, two for raid1'),
  bootSizeMiB: z.number().int().min(256).default(1024),
  efiSizeMiB: z.number().int().min(100).default(600),
  volumeGroup: Ident.default('vg_root'),
  volumes: z.array(LogicalVolume).min(1).describe('LVM logical volumes on the system disk(s)'),
  data: z.array(DataVolume).default([]),
});

const Ipv4Method = z.enum(['dhcp', 'static', 'none']).default('none').describe('static takes the machine ipv4');

/** How discovery finds a role's NIC in a hardware report; without it the boot NIC takes the first role. */
export const NicMatch = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9_.:@-]{1,64}$/, 'a kernel interface name, e.g. eno1').optional(),
    pciAddress: z.string().regex(/^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/, 'a PCI address like 0000:3b:00.0').optional(),
    speedMbps: z.number().int().positive().optional(),
  })
  .refine((m) => m.name !== undefined || m.pciAddress !== undefined || m.speedMbps !== undefined, 'give name, pciAddress or speedMbps');

export const Interface = z.object({
  role: Ident.describe('NIC role; each machine maps it to a MAC'),
  match: NicMatch.optional().describe('discovery: which NIC of a reported box takes this role'),
  mtu: z.number().int().min(576).max(9216).optional(),
  ipv4: Ipv4Method,
});
export const Bond = z.object({
  name: z.string().regex(/^bond\d+$/, 'bond names are bondN'),
  mode: z.enum(['802.3ad', 'active-backup', 'balance-xor', 'balance-alb', 'balance-tlb']),
  members: z.array(Ident).min(1),
  options: z.string().regex(/^[a-z_]+=[A-Za-z0-9_.]+(,[a-z_]+=[A-Za-z0-9_.]+)*$/).optional().describe('e.g. miimon=100,lacp_rate=fast'),
  mtu: z.number().int().min(576).max(9216).optional(),
  ipv4: Ipv4Method,
});
export const Vlan = z.object({
  id: z.number().int().min(1).max(4094),
  parent: Ident.describe('an interface role or a bond name'),
  ipv4: Ipv4Method,
});
export const Bridge = z.object({
  name: z.string().regex(/^br[a-z0-9]*$/, 'bridge names start with br'),
  members: z.array(Ident).min(1).describe('interface roles or bond names'),
  ipv4: Ipv4Method,
});

export const Network = z.object({
  interfaces: z.array(Interface).min(1),
  bonds: z.array(Bond).default([]),
  vlans: z.array(Vlan).default([]),
  bridges: z.array(Bridge).default([]),
  dns: z.array(IPv4).default([]),
  search: z.array(DnsName).default([]),
});

export const User = z.object({
  name: PosixName.describe('POSIX user name'),
  sshKeys: z.array(SshPublicKey).default([]),
  groups: z.array(PosixName).default([]),
  passwordHash: CryptHash.optional(),
});

export const Repo = z.object({ name: Ident, baseurl: HttpUrl });

/** Olson time zone names: UTC, Europe/Berlin, America/Argentina/Buenos_Aires, Etc/GMT+5. */
const Timezone = z.string().regex(/^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/, 'a time zone name like Europe/Berlin');
/** An NTP server: a DNS name, an IPv4 address (a DNS name syntactically) or an IPv6 address. */
const NtpServer = z
  .string()
  .refine((s) => DnsName.safeParse(s).success || /^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*$/.test(s), 'a host name or an IP address');
/** A %packages line: a package (globs allowed), @group, @^environment, @module:stream/profile or -excluded. */
const PackageSpec = z
  .string()
  .regex(/^(@\^?|-)?[A-Za-z0-9_][A-Za-z0-9_.+:*/-]*$/, 'a package name (globs allowed), @group, @^environment or -package');
/** One kernel argument: name or name=value, no spaces or quotes (it is written inside --append="…" and on the iPXE kernel line). */
export const KernelArg = z.string().regex(/^[A-Za-z0-9_.,:/=+@~-]+$/, 'one kernel argument (letters, digits and _ . , : / = + @ ~ -; no spaces or quotes)');
/** systemd unit names; \xNN is systemd's own escape (var-lib\x2dx.mount). */
const UnitName = z
  .string()
  .max(255)
  .regex(/^([A-Za-z0-9:_.@-]|\\x[0-9a-f]{2})+\.(service|socket|device|mount|automount|swap|target|path|timer|slice|scope)$/, 'a systemd unit name, e.g. hello.service');

export const IgnitionExtras = z.object({
  version: z.enum(['3.3.0', '3.4.0']).default('3.3.0'),
  files: z
    .array(z.object({ path: AbsolutePath, contents: z.string().describe('free text, JSON-escaped into the Ignition config'), mode: z.number().int().default(0o644) }))
    .default([]),
  units: z.array(z.object({ name: UnitName, enabled: z.boolean().default(true), contents: z.string().optional().describe('free text, JSON-escaped') })).default([]),
});

export const Profile = z
  .object({
    name: Ident,
    os: z.enum(['rocky-9', 'fcos']),
    arch: z.enum(['x86_64', 'aarch64']).default('x86_64'),
    firmware: z.enum(['bios', 'uefi']),
    secureBoot: z
      .boolean()
      .default(false)
      .describe('UEFI Secure Boot on: the machine netboots the signed shim → GRUB → signed kernel chain instead of iPXE'),
    disks: z.array(Disk).min(1),
    storage: Storage,
    network: Network.default({ interfaces: [{ role: 'data0', ipv4: 'dhcp' }], bonds: [], vlans: [], bridges: [], dns: [], search: [] }),
    rootPasswordHash: CryptHash.optional(),
    users: z.array(User).default([]),
    timezone: Timezone.default('UTC'),
    ntp: z.array(NtpServer).default([]),
    repos: z.array(Repo).default([]).describe('extra repositories; the OS mirror comes from config'),
    packages: z.array(PackageSpec).default([]),
    kernelArgs: z.array(KernelArg).default([]),
    ignition: IgnitionExtras.optional(),
    converge: z.array(ConvergeStep).default([]),
  })
  .superRefine((p, ctx) => {
    // Secure Boot is a UEFI feature, and ARM64 servers have no BIOS to boot.
    if (p.secureBoot && p.firmware !== 'uefi') ctx.addIssue({ code: 'custom', path: ['secureBoot'], message: 'Secure Boot needs firmware: uefi' });
    if (p.arch === 'aarch64' && p.firmware !== 'uefi') ctx.addIssue({ code: 'custom', path: ['firmware'], message: 'arch aarch64 boots UEFI only: firmware: uefi' });
    const names = new Set<string>();
    p.disks.forEach((d, i) => {
      if (names.has(d.name)) ctx.addIssue({ code: 'custom', path: ['disks', i, 'name'], message: `duplicate disk "${d.name}"` });
      names.add(d.name);
    });
    p.storage.disks.forEach((d, i) => {
      if (!names.has(d)) ctx.addIssue({ code: 'custom', path: ['storage', 'disks', i], message: `no disk named "${d}" in disks` });
    });
    p.storage.data.forEach((v, i) => {
      if (!names.has(v.disk)) ctx.addIssue({ code: 'custom', path: ['storage', 'data', i, 'disk'], message: `no disk named "${v.disk}" in disks` });
      if (p.storage.disks.includes(v.disk))
        ctx.addIssue({ code: 'custom', path: ['storage', 'data', i, 'disk'], message: `"${v.disk}" is a system disk` });
    });
    const want = p.storage.layout === 'raid1' ? 2 : 1;
    if (p.storage.disks.length !== want)
      ctx.addIssue({ code: 'custom', path: ['storage', 'disks'], message: `layout ${p.storage.layout} needs exactly ${want} system disk(s)` });
    const stepNames = new Set<string>();
    p.converge.forEach((s, i) => {
      if (stepNames.has(s.name)) ctx.addIssue({ code: 'custom', path: ['converge', i, 'name'], message: `duplicate step "${s.name}"` });
      stepNames.add(s.name);
    });
  });
export type Profile = z.infer<typeof Profile>;
export type ProfileInput = z.input<typeof Profile>;
