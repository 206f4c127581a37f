import { CONSOLE, nicMap, type Machine } from '../model/machine.js';
import { CRYPT_HASH, ipv4ToInt, parseCidr, SSH_PUBLIC_KEY } from '../model/primitives.js';
import type { Profile } from '../model/profile.js';
import type { RenderContext } from './context.js';
import { RenderError, type Problem } from '../model/errors.js';
import { lintValues, valueProblem, type ValueKind } from './kickstart-lint.js';
import { profileRoles } from './network-plan.js';
import { systemParts } from './storage-plan.js';

/**
 * Semantic checks the schema cannot express and ksvalidator does not make: a profile that
 * passes them renders into a kickstart anaconda can execute. Each problem names the field.
 */

/** What the partition table, md superblocks and LVM metadata take besides the partitions. */
const OVERHEAD_MIB = 64;
const RESERVED_MOUNTS: Record<string, string> = { '/boot': 'storage.bootSizeMiB', '/boot/efi': 'storage.efiSizeMiB' };

/**
 * Where each string of a profile or machine lands decides what it may hold (kickstart-lint.ts,
 * ValueKind). Everything not listed is a `word`: printed bare on a kickstart, iPXE or systemd
 * line. The schema holds each field to its own alphabet; this is the render-time guard that also
 * covers rows stored before a schema change, and fields added later (a word until listed here).
 */
const PROFILE_KINDS: Array<[RegExp, ValueKind]> = [
  // file contents and converge commands: uploaded, JSON-escaped or shell-quoted whole (server/converge/shell.ts)
  [/^ignition\.(files|units)\.\d+\.contents$/, 'free'],
  [/^converge\.\d+\.(content|template|run|unless)$/, 'free'],
  [/^converge\.\d+\.(args|command)\.\d+$/, 'free'],
  // only in Ignition's JSON, or in the converger's shell-quoted commands: one line each
  [/^(ignition|converge)\./, 'line'],
  [/^users\.\d+\.sshKeys\.\d+$/, 'spaced'],
  [/^(rootPasswordHash|users\.\d+\.passwordHash)$/, 'crypt'],
  [/^repos\.\d+\.baseurl$/, 'url'],
];
const MACHINE_KINDS: Array<[RegExp, ValueKind]> = [
  // never rendered: the BMC secret is anything the BMC takes (the schema refuses control characters)
  [/^bmc\.password$/, 'free'],
  [/^bmc\./, 'line'],
  // params reach converge templates; params.console also the kernel command line
  [/^params\.console$/, 'word'],
  [/^params\./, 'line'],
];
const kindIn = (table: Array<[RegExp, ValueKind]>) => (path: string) => table.find(([re]) => re.test(path))?.[1] ?? 'word';

type Add = (path: string, message: string) => void;

function lintStorage(p: Profile, add: Add): void {
  const s = p.storage;
  const paths = new Map<string, number>();
  p.disks.forEach((d, i) => {
    if (paths.has(d.path)) add(`disks.${i}.path`, `${d.path} is also disk ${p.disks[paths.get(d.path)!].name}`);
    else paths.set(d.path, i);
  });

  const mounts = new Map<string, string>();
  if (p.os === 'rocky-9') {
    mounts.set('/boot', RESERVED_MOUNTS['/boot']);
    if (p.firmware === 'uefi') mounts.set('/boot/efi', RESERVED_MOUNTS['/boot/efi']);
  }
  const claim = (mount: string, path: string) => {
    if (mount === 'swap') return;
    const other = mounts.get(mount);
    if (other) add(`${path}.mount`, `mountpoint ${mount} is already used by ${other}`);
    else mounts.set(mount, path);
  };
  const names = new Set<string>();
  let grower: number | undefined;
  s.volumes.forEach((v, i) => {
    const at = `storage.volumes.${i}`;
    claim(v.mount, at);
    if (names.has(v.name)) add(`${at}.name`, `logical volume ${v.name} appears twice in ${s.volumeGroup}`);
    names.add(v.name);
    if ((v.mount === 'swap') !== (v.fstype === 'swap')) add(`${at}.fstype`, 'swap is mounted as "swap" with fstype swap, and only then');
    if (p.os !== 'rocky-9') return; // fcos keeps its own root layout (lintFcos)
    if (v.grow) {
      if (grower !== undefined) add(`${at}.grow`, `only one volume may grow; storage.volumes.${grower} already does`);
      else grower = i;
    } else if (v.sizeGiB === undefined) add(`${at}.sizeGiB`, 'a volume that does not grow needs a size');
  });
  s.data.forEach((v, i) => {
    claim(v.mount, `storage.data.${i}`);
    if (v.fstype === 'xfs' && v.label && v.label.length > 12) add(`storage.data.${i}.label`, 'xfs labels hold at most 12 characters');
  });
  s.data.forEach((v, i) => {
    const first = s.data.findIndex((o) => o.disk === v.disk);
    if (first !== i) add(`storage.data.${i}.disk`, `disk ${v.disk} is already used whole by storage.data.${first}`);
  });

  if (p.os === 'rocky-9') {
    const needMiB =
      systemParts(p).reduce((n, part) => n + part.sizeMiB, 0) +
      s.volumes.reduce((n, v) => n + (v.sizeGiB ?? 0) * 1024, 0) +
      OVERHEAD_MIB;
    for (const role of s.disks) {
      const disk = p.disks.find((d) => d.name === role);
      if (disk?.sizeGiB !== undefined && disk.sizeGiB * 1024 < needMiB)
        add('storage.volumes', `the layout needs ${(needMiB / 1024).toFixed(1)} GiB but disk ${role} has ${disk.sizeGiB} GiB`);
    }
  }
}

function lintNetwork(p: Profile, add: Add): void {
  const n = p.network;
  const roles = new Set<string>();
  n.interfaces.forEach((nic, i) => {
    if (roles.has(nic.role)) add(`network.interfaces.${i}.role`, `role ${nic.role} appears twice`);
    roles.add(nic.role);
    // The role becomes the interface name on the host (ifname=); eth* would race the kernel's own names.
    if (p.os === 'rocky-9' && (!/^[a-zA-Z][a-zA-Z0-9_-]{0,14}$/.test(nic.role) || /^eth\d+$/.test(nic.role)))
      add(`network.interfaces.${i}.role`, `role ${nic.role} must work as an interface name: at most 15 letters, digits, _ or -, not ethN`);
  });

  // Every device may be enslaved or carry a VLAN once: one owner per interface.
  const owner = new Map<string, string>();
  const take = (device: string, path: string, by: string) => {
    const other = owner.get(device);
    if (other) add(path, `${device} is already used by ${other}`);
    else owner.set(device, by);
  };
  const ipv4Of = (device: string) =>
    n.interfaces.find((i) => i.role === device)?.ipv4 ?? n.bonds.find((b) => b.name === device)?.ipv4;

  const bondNames = new Set<string>();
  n.bonds.forEach((b, i) => {
    if (bondNames.has(b.name) || roles.has(b.name)) add(`network.bonds.${i}.name`, `${b.name} is already defined`);
    bondNames.add(b.name);
    b.members.forEach((m, j) => {
      const at = `network.bonds.${i}.members.${j}`;
      if (!roles.has(m)) return add(at, `no interface role ${m} in network.interfaces`);
      take(m, at, `network.bonds.${i}`);
      if (ipv4Of(m) !== 'none') add(at, `${m} is a bond port and cannot have an address of its own (set its ipv4 to none)`);
    });
  });
  n.vlans.forEach((v, i) => {
    const at = `network.vlans.${i}.parent`;
    if (!roles.has(v.parent) && !bondNames.has(v.parent)) return add(at, `no interface role or bond named ${v.parent}`);
    take(v.parent, at, `network.vlans.${i}`);
    if (ipv4Of(v.parent) !== 'none') add(at, `${v.parent} carries VLAN ${v.id} and cannot have an address of its own (set its ipv4 to none)`);
  });
  n.bridges.forEach((b, i) =>
    b.members.forEach((m, j) => {
      const at = `network.bridges.${i}.members.${j}`;
      if (!roles.has(m) && !bondNames.has(m)) return add(at, `no interface role or bond named ${m}`);
      take(m, at, `network.bridges.${i}`);
      if (ipv4Of(m) !== 'none') add(at, `${m} is a bridge port and cannot have an address of its own (set its ipv4 to none)`);
    }),
  );

  const statics = [
    ...n.interfaces.map((x, i) => [x.ipv4, `network.interfaces.${i}.ipv4`]),
    ...n.bonds.map((x, i) => [x.ipv4, `network.bonds.${i}.ipv4`]),
    ...n.vlans.map((x, i) => [x.ipv4, `network.vlans.${i}.ipv4`]),
    ...n.bridges.map((x, i) => [x.ipv4, `network.bridges.${i}.ipv4`]),
  ].filter(([m]) => m === 'static');
  statics.slice(1).forEach(([, at]) => add(at, `a machine has one static address and ${statics[0][1]} already takes it`));
}

function lintFcos(p: Profile, add: Add): void {
  if (p.storage.layout !== 'single') add('storage.layout', 'fcos installs onto one disk (coreos.inst.install_dev)');
  p.storage.volumes.forEach((v, i) => {
    if (v.mount !== '/') add(`storage.volumes.${i}.mount`, 'fcos keeps its own root layout: only "/" may be listed');
  });
  // /usr is read-only and / is rebuilt from the image: data must live under /var.
  p.storage.data.forEach((v, i) => {
    if (!v.mount.startsWith('/var/')) add(`storage.data.${i}.mount`, 'fcos data volumes must be mounted under /var/');
  });
  const n = p.network;
  if (n.bonds.length) add('network.bonds', 'bonds are not rendered for fcos yet');
  if (n.vlans.length) add('network.vlans', 'VLANs are not rendered for fcos yet');
  if (n.bridges.length) add('network.bridges', 'bridges are not rendered for fcos yet');
  n.interfaces.forEach((nic, i) => {
    if (nic.ipv4 === 'static') add(`network.interfaces.${i}.ipv4`, 'fcos interfaces are rendered with DHCP only');
  });
}

/**
 * Every string of the profile, walked generically: none may break out of its line or quoting
 * where it lands. Then the fields whose kind lets through a character others may not hold it
 * only in their own shape: an SSH key line, a crypt hash. Values are never echoed: a problem may
 * end up in an iPXE script and an event.
 */
function lintTokens(p: Profile, add: Add): void {
  const flagged = new Set<string>();
  for (const problem of lintValues(p, kindIn(PROFILE_KINDS))) {
    flagged.add(problem.path);
    add(problem.path, problem.message);
  }
  const shape = (value: string | undefined, path: string, re: RegExp, message: string) => {
    if (value !== undefined && !flagged.has(path) && !re.test(value)) add(path, message);
  };
  shape(p.rootPasswordHash, 'rootPasswordHash', CRYPT_HASH, 'must be a crypt(3) hash ($6$salt$hash, $y$…), never a clear password');
  p.users.forEach((u, i) => {
    shape(u.passwordHash, `users.${i}.passwordHash`, CRYPT_HASH, 'must be a crypt(3) hash ($6$salt$hash, $y$…), never a clear password');
    u.sshKeys.forEach((k, j) => shape(k, `users.${i}.sshKeys.${j}`, SSH_PUBLIC_KEY, 'must be one OpenSSH public key line'));
  });
}

export function lintProfile(profile: Profile): Problem[] {
  const problems: Problem[] = [];
  const add: Add = (path, message) => void problems.push({ path, message });
  lintStorage(profile, add);
  lintNetwork(profile, add);
  lintTokens(profile, add);
  if (profile.os === 'fcos') lintFcos(profile, add);
  // ARM64 has no BIOS, and no iPXE: it boots GRUB from UEFI (boot-args.ts lays its assets out under <os>/aarch64/)
  if (profile.arch === 'aarch64' && profile.firmware !== 'uefi') add('firmware', 'arch aarch64 boots UEFI only');
  return problems;
}

function hasStatic(p: Profile): boolean {
  const n = p.network;
  return [...n.interfaces, ...n.bonds, ...n.vlans, ...n.bridges].some((d) => d.ipv4 === 'static');
}

/** What a machine must bring for its profile: MACs for the roles, an address when a device is static. */
export function lintMachine(machine: Machine, profile: Profile): Problem[] {
  const problems: Problem[] = [];
  const add: Add = (path, message) => void problems.push({ path, message });
  const roles = profileRoles(profile);
  const mapped = nicMap(machine, roles);
  // A cabled slot waiting for its first box has no MACs yet: its roles are mapped when one comes.
  const waiting = machine.macs.length === 0;
  for (const role of roles)
    if (!mapped[role] && !waiting) add(`nics.${role}`, `profile ${profile.name} uses NIC role ${role}: map it to a MAC in nics or add a MAC to macs`);
  for (const role of Object.keys(machine.nics))
    if (!roles.includes(role)) add(`nics.${role}`, `profile ${profile.name} has no NIC role ${role}`);

  if (hasStatic(profile)) {
    if (!machine.ipv4) add('ipv4', `profile ${profile.name} has a static device: the machine needs ipv4.address and ipv4.gateway`);
    else if (!machine.ipv4.gateway) add('ipv4.gateway', 'a static address needs a gateway');
    else {
      const { network, prefix } = parseCidr(machine.ipv4.address);
      const { network: gwNet } = parseCidr(`${machine.ipv4.gateway}/${prefix}`);
      if (gwNet !== network) add('ipv4.gateway', `${machine.ipv4.gateway} is not inside ${network}/${prefix}`);
      if (ipv4ToInt(machine.ipv4.gateway) === ipv4ToInt(parseCidr(machine.ipv4.address).address))
        add('ipv4.gateway', 'the gateway is the machine itself');
    }
  } else if (machine.ipv4 && profile.os === 'rocky-9') add('ipv4', `profile ${profile.name} has no static device to carry this address`);
  const flagged = new Set<string>();
  for (const problem of lintValues(machine, kindIn(MACHINE_KINDS))) {
    flagged.add(problem.path);
    add(problem.path, problem.message);
  }
  const console = machine.params.console;
  if (console !== undefined && !flagged.has('params.console') && !CONSOLE.test(String(console))) add('params.console', 'a console like ttyS0,115200n8');
  return problems;
}

/**
 * The base URL machines reach kickstand at (http.publicUrl, else the request's Host header): it
 * is printed into every script, inside quotes and on the iPXE kernel line.
 */
export function baseUrlProblem(base: string): Problem | undefined {
  const why = /^https?:\/\/[^/]/.test(base) ? valueProblem(base, 'url') : 'must be an http(s) URL';
  return why ? { path: 'base', message: `the base URL (http.publicUrl, else the request's Host header) ${why}` } : undefined;
}

/** Lint first: a profile or machine that cannot install must never reach a renderer's output. */
export function assertRenderable(ctx: RenderContext): void {
  const problems = [...lintProfile(ctx.profile), ...lintMachine(ctx.machine, ctx.profile)];
  if (ctx.machine.macs.length === 0) problems.push({ path: 'macs', message: 'no box in this slot yet: it renders once a box cabled into it is discovered' });
  if (ctx.convergerPublicKey !== undefined && !SSH_PUBLIC_KEY.test(ctx.convergerPublicKey.trim()))
    problems.push({ path: 'convergerPublicKey', message: 'must be one OpenSSH public key line' });
  const base = baseUrlProblem(ctx.urls.base);
  if (base) problems.push(base);
  if (problems.length) throw new RenderError(problems);
}
