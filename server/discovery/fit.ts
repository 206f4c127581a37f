import type { Problem } from '../model/errors.js';
import { type HardwareDisk, type HardwareInterface, type Inventory, reportedMacs } from '../model/hardware.js';
import type { Profile } from '../model/profile.js';

/**
 * Does a profile fit the box that reported, before anything is installed? A profile names disks
 * by stable path and NICs by role, and nothing else ever compares those with real hardware: a
 * wrong by-path link is otherwise found by the installer, half-way, at the console. Each problem
 * names the profile field and says what the machine has instead, so the fix is on the page.
 */
export function checkFit(profile: Profile, inv: Inventory): Problem[] {
  const problems: Problem[] = [];
  for (const disk of profile.disks) {
    const message = diskMessage(disk, inv.disks ?? []);
    if (message) problems.push({ path: `disks.${disk.name}`, message });
  }
  const mode = inv.firmware?.mode;
  if (mode && mode !== profile.firmware) problems.push({ path: 'firmware', message: `the profile installs for ${profile.firmware}; this machine booted ${mode}` });
  // shim boots with Secure Boot off too, so a box whose setup has it off would install quietly
  // without it: a profile that asks for it fails on the box's own word (absent = unknown, no misfit).
  if (profile.secureBoot && inv.firmware?.secureBoot === false)
    problems.push({ path: 'secureBoot', message: 'the profile wants Secure Boot on; this machine booted with it off (turn it on in the firmware setup)' });
  const reported = inv.cpu?.architecture?.trim();
  if (reported) {
    const arch = normaliseArch(reported);
    if (arch !== profile.arch) problems.push({ path: 'arch', message: `the profile installs for ${profile.arch}; this machine is ${arch}` });
  }
  const nics = assignNics(profile, inv);
  if ('problems' in nics) problems.push(...nics.problems);
  return problems;
}

/**
 * The machine's role→MAC map. Explicit matches go first so a loose role cannot take the NIC a
 * strict one needs; the boot NIC goes to the first loose role because the installer's network
 * (and the profile's first interface, by convention) is the one the box netbooted on; the rest
 * prefer NICs with a link, as a cabled port is the likelier intent than a dark one.
 */
export function assignNics(
  profile: Profile,
  inv: Inventory,
  /** Roles already known by where their NIC is cabled (role → MAC): they come before any match. */
  pinned: Record<string, string> = {},
): { nics: Record<string, string>; macs: string[] } | { problems: Problem[] } {
  const nics = distinctNics(inv.interfaces ?? []);
  const roles = profile.network.interfaces;
  const problems: Problem[] = [];
  if (roles.length > nics.length) {
    const n = roles.length;
    const has = nics.length ? `${nics.length} (${compact(nics.map((nic) => nic.name))})` : 'none';
    problems.push({
      path: 'network.interfaces',
      message: `${n} ${n === 1 ? 'role' : 'roles'} (${compact(roles.map((r) => r.role))}) ${n === 1 ? 'needs' : 'need'} ${n} ${n === 1 ? 'NIC' : 'NICs'}; this machine has ${has}`,
    });
  }

  const out: Record<string, string> = {};
  const takenBy = new Map<string, string>();
  const take = (role: string, nic: HardwareInterface) => {
    out[role] = nic.mac;
    takenBy.set(nic.mac, role);
  };
  for (const r of roles) {
    const nic = nics.find((n) => n.mac === pinned[r.role]);
    if (nic) take(r.role, nic);
  }
  roles.forEach((r, i) => {
    const match = r.match;
    if (!match || out[r.role]) return;
    const fitting = nics.filter((nic) => fits(nic, match));
    const free = fitting.find((nic) => !takenBy.has(nic.mac));
    if (free) return take(r.role, free);
    problems.push({
      path: `network.interfaces.${i}.match`,
      message: fitting.length
        ? `every NIC with ${describeMatch(match)} is taken: ${compact(fitting.map((nic) => `${nic.name} by ${takenBy.get(nic.mac)}`))}`
        : `no NIC with ${describeMatch(match)}; ${nics.length ? `it has ${compact(nics.map((nic) => describeNic(nic, match)))}` : 'the report lists no NICs'}`,
    });
  });

  const loose = roles.filter((r) => !r.match && !out[r.role]);
  const boot = nics.find((nic) => nic.mac === inv.bootMac && !takenBy.has(nic.mac));
  if (boot && loose.length) take(loose.shift()!.role, boot);
  const free = nics.filter((nic) => !takenBy.has(nic.mac)).sort((a, b) => Number(b.carrier === true) - Number(a.carrier === true));
  for (const r of loose) {
    const nic = free.shift();
    if (nic) take(r.role, nic);
  }

  if (problems.length) return { problems };
  return { nics: out, macs: reportedMacs(inv) };
}

type NicMatch = NonNullable<Profile['network']['interfaces'][number]['match']>;

function fits(nic: HardwareInterface, m: NicMatch): boolean {
  return (
    (m.name === undefined || nic.name === m.name) &&
    (m.pciAddress === undefined || nic.pciAddress?.toLowerCase() === m.pciAddress) &&
    (m.speedMbps === undefined || nic.speedMbps === m.speedMbps)
  );
}

function describeMatch(m: NicMatch): string {
  return [
    ...(m.name !== undefined ? [`name ${m.name}`] : []),
    ...(m.pciAddress !== undefined ? [`pciAddress ${m.pciAddress}`] : []),
    ...(m.speedMbps !== undefined ? [`speedMbps ${m.speedMbps}`] : []),
  ].join(', ');
}

/** A NIC with the facts the match asked about, so the operator sees the near misses. */
function describeNic(nic: HardwareInterface, m: NicMatch): string {
  const facts = [
    ...(m.pciAddress !== undefined ? [nic.pciAddress ?? 'no PCI address'] : []),
    ...(m.speedMbps !== undefined ? [nic.speedMbps !== undefined ? `${nic.speedMbps} Mb/s` : 'speed unknown'] : []),
  ];
  return facts.length ? `${nic.name} (${facts.join(', ')})` : nic.name;
}

/** Bond and VLAN devices repeat a port's MAC; one MAC is one NIC to a machine record. */
function distinctNics(interfaces: HardwareInterface[]): HardwareInterface[] {
  const seen = new Set<string>();
  return interfaces.filter((nic) => !seen.has(nic.mac) && seen.add(nic.mac));
}

type ProfileDisk = Profile['disks'][number];

/** Kinds whose names a report can confirm; by-uuid, by-label and the partition kinds name file systems. */
const CHECKABLE = new Set(['path', 'id']);

function diskMessage(disk: ProfileDisk, disks: HardwareDisk[]): string | undefined {
  if (!disks.length) return 'the hardware report lists no disks';
  const [, kind, name] = /^\/dev\/disk\/by-([a-z]+)\/(.+)$/.exec(disk.path) ?? [];
  if (!kind || !CHECKABLE.has(kind)) return undefined;
  const found = disks.find((d) => links(d, kind).includes(name) || (kind === 'id' && wwnLink(name, d)));
  if (!found) {
    const have = [...new Set(disks.flatMap((d) => links(d, kind)))];
    return `${disk.path} not on this machine; ${have.length ? `it has by-${kind} ${compact(have, ' only')}` : `it has no by-${kind} links`}`;
  }
  if (disk.sizeGiB !== undefined && found.sizeBytes !== undefined && disk.sizeGiB * 2 ** 30 > found.sizeBytes)
    // Rounded down, so a disk just short of the need never reads as the same size.
    return `${disk.path} is ${(Math.floor((found.sizeBytes / 2 ** 30) * 10) / 10).toFixed(1)} GiB; the profile needs ${disk.sizeGiB} GiB`;
  return undefined;
}

/**
 * A disk's link names of one kind. Agents write links whole (/dev/disk/by-id/X) or bare (X, of
 * the field's own kind); the WWN stands for the wwn- link udev makes of it.
 */
function links(d: HardwareDisk, kind: string): string[] {
  const named = (link: string, bareKind: string) => {
    const whole = /^\/dev\/disk\/by-([a-z]+)\/(.+)$/.exec(link);
    if (whole) return whole[1] === kind ? whole[2] : undefined;
    return !link.startsWith('/') && bareKind === kind ? link : undefined;
  };
  const out = [...(d.byPath !== undefined ? [named(d.byPath, 'path')] : []), ...(d.byId ?? []).map((l) => named(l, 'id'))];
  if (kind === 'id' && d.wwn && !out.some((l) => l !== undefined && wwnLink(l, d))) out.push(`wwn-${d.wwn}`);
  return out.filter((l): l is string => l !== undefined);
}

/** lsblk and udev disagree on case and sometimes on the 0x prefix; the number is what counts. */
function wwnLink(name: string, d: HardwareDisk): boolean {
  if (!d.wwn || !/^wwn-/i.test(name)) return false;
  const bare = (w: string) => w.toLowerCase().replace(/^0x/, '');
  return bare(name.slice(4)) === bare(d.wwn);
}

/** At most eight names, so a box with hundreds of links still gives a one-line message. */
function compact(items: string[], whenComplete = ''): string {
  const more = items.length - 8;
  return more > 0 ? `${items.slice(0, 8).join(', ')} and ${more} more` : items.join(', ') + whenComplete;
}

/** Kernels, agents and distributions spell the two architectures several ways. */
function normaliseArch(reported: string): string {
  const a = reported.toLowerCase();
  if (a === 'x86_64' || a === 'amd64' || a === 'x86-64') return 'x86_64';
  if (a === 'aarch64' || a === 'arm64') return 'aarch64';
  return a;
}
