import { z } from 'zod';
import { ConvergeStep } from './converge-steps.js';
import { Ident, IPv4, StableDiskPath } from './primitives.js';

/**
 * A hardware profile is shared by many identical machines, so it never holds a MAC:
 * NICs are named by role (data0, data1…) and each machine maps roles to its MACs.
 */
export const Disk = z.object({
  name: Ident.describe('role of the disk inside the profile, e.g. sys0'),
  path: StableDiskPath,
  sizeGiB: z.number().positive().optional().describe('when known, lint checks that the layout fits'),
});

export const LogicalVolume = z.object({
  name: Ident,
  mount: z.string().regex(/^(\/[^\s]*|swap)$/, 'absolute mountpoint or "swap"'),
  fstype: z.enum(['xfs', 'ext4', 'swap']).default('xfs'),
  sizeGiB: z.number().positive().optional(),
  grow: z.boolean().default(false).describe('take the remaining space of the volume group'),
});

export const DataVolume = z.object({
  disk: Ident.describe('a disk of this profile, used whole'),
  mount: z.string().regex(/^\/[^\s]*$/, 'absolute mountpoint'),
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

export const Interface = z.object({
  role: Ident.describe('NIC role; each machine maps it to a MAC'),
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
  parent: z.string().min(1).describe('an interface role or a bond name'),
  ipv4: Ipv4Method,
});
export const Bridge = z.object({
  name: z.string().regex(/^br[a-z0-9]*$/, 'bridge names start with br'),
  members: z.array(z.string().min(1)).min(1),
  ipv4: Ipv4Method,
});

export const Network = z.object({
  interfaces: z.array(Interface).min(1),
  bonds: z.array(Bond).default([]),
  vlans: z.array(Vlan).default([]),
  bridges: z.array(Bridge).default([]),
  dns: z.array(IPv4).default([]),
  search: z.array(z.string()).default([]),
});

export const User = z.object({
  name: z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, 'POSIX user name'),
  sshKeys: z.array(z.string().regex(/^(ssh-|ecdsa-|sk-)/, 'an OpenSSH public key')).default([]),
  groups: z.array(z.string()).default([]),
  passwordHash: z.string().regex(/^\$(1|5|6|y|2[aby])\$/, 'a crypt(3) hash, never a clear password').optional(),
});

export const Repo = z.object({ name: Ident, baseurl: z.string().url() });

export const IgnitionExtras = z.object({
  version: z.enum(['3.3.0', '3.4.0']).default('3.3.0'),
  files: z
    .array(z.object({ path: z.string().regex(/^\//), contents: z.string(), mode: z.number().int().default(0o644) }))
    .default([]),
  units: z.array(z.object({ name: z.string(), enabled: z.boolean().default(true), contents: z.string().optional() })).default([]),
});

export const Profile = z
  .object({
    name: Ident,
    os: z.enum(['rocky-9', 'fcos']),
    arch: z.enum(['x86_64', 'aarch64']).default('x86_64'),
    firmware: z.enum(['bios', 'uefi']),
    disks: z.array(Disk).min(1),
    storage: Storage,
    network: Network.default({ interfaces: [{ role: 'data0', ipv4: 'dhcp' }], bonds: [], vlans: [], bridges: [], dns: [], search: [] }),
    rootPasswordHash: z.string().regex(/^\$(1|5|6|y|2[aby])\$/, 'a crypt(3) hash, never a clear password').optional(),
    users: z.array(User).default([]),
    timezone: z.string().default('UTC'),
    ntp: z.array(z.string()).default([]),
    repos: z.array(Repo).default([]).describe('extra repositories; the OS mirror comes from config'),
    packages: z.array(z.string()).default([]),
    kernelArgs: z.array(z.string()).default([]),
    ignition: IgnitionExtras.optional(),
    converge: z.array(ConvergeStep).default([]),
  })
  .superRefine((p, ctx) => {
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
