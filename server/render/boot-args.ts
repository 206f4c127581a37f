import { BootUrls } from '../model/boot-urls.js';
import { RenderError, type Problem } from '../model/errors.js';
import type { Profile } from '../model/profile.js';
import { canonicalMac } from '../model/primitives.js';
import { consoleArgs, type RenderContext } from './context.js';
import { lintValues, type ValueKind } from './kickstart-lint.js';
import { baseUrlProblem } from './lint.js';
import { planNetwork } from './network-plan.js';

/**
 * What every boot loader's script (iPXE, GRUB) puts on the installer's kernel command line, and
 * which boot assets it loads: one place, so the two formats cannot drift apart. Pure.
 */

export type Urls = RenderContext['urls'];

/** One boot situation of a machine, as every boot script format (iPXE, GRUB) renders it. */
export type ScriptRequest =
  | { kind: 'install'; ctx: RenderContext }
  | { kind: 'local'; name: string; firmware: 'bios' | 'uefi'; arch?: Profile['arch']; urls: Urls }
  | { kind: 'unknown'; mac: string; urls: Urls }
  /** an unknown MAC under unknownMachines: discover; token is its discovery token */
  | { kind: 'discover'; mac: string; token: string; urls: Urls; config: RenderContext['config'] }
  | { kind: 'error'; name: string; mac: string; problems: Problem[]; urls: Urls };

/**
 * Every string of a view checked against what its place in the script allows (`kinds` by dotted
 * path, a `word` when unlisted): the profile and machine were linted already; this also catches
 * what a view composes (URLs from the base URL, mirrors from the config).
 */
export function checkedView<T>(format: string, view: T, kinds: Array<[RegExp, ValueKind]>): T {
  const problems = lintValues(view, (path) => kinds.find(([re]) => re.test(path))?.[1] ?? 'word').map((p) => ({
    ...p,
    message: `${format} value ${p.path} ${p.message}`,
  }));
  if (problems.length) throw new RenderError(problems);
  return view;
}

/** The base URL goes into scripts; a bad one (a forged Host header) is refused before it reaches one. */
export function checkedBase(urls: Urls): Urls {
  const problem = baseUrlProblem(urls.base);
  if (problem) throw new RenderError([problem]);
  return urls;
}

/** Boot assets (paths under assets.dir) per OS and CPU architecture. */
const ASSETS = {
  'rocky-9': {
    x86_64: { kernel: 'rocky-9/vmlinuz', initrd: 'rocky-9/initrd.img' },
    aarch64: { kernel: 'rocky-9/aarch64/vmlinuz', initrd: 'rocky-9/aarch64/initrd.img' },
  },
  fcos: {
    x86_64: { kernel: 'fcos/kernel', initrd: 'fcos/initramfs.img' },
    aarch64: { kernel: 'fcos/aarch64/kernel', initrd: 'fcos/aarch64/initramfs.img' },
  },
} as const;

export interface BootAssets {
  kernel: string;
  initrd: string;
}

/**
 * The Rocky mirror for the profile's architecture: `mirrors.rocky-9` names the x86_64 tree, and
 * Rocky's layout puts the architecture in the path (…/BaseOS/x86_64/os → …/BaseOS/aarch64/os).
 */
export function rockyMirror(config: RenderContext['config'], arch: Profile['arch']): string {
  const mirror = config.mirrors['rocky-9'];
  return arch === 'aarch64' ? mirror.replace('/x86_64/', '/aarch64/') : mirror;
}

export function installAssets(profile: Pick<Profile, 'os' | 'arch'>): BootAssets {
  return ASSETS[profile.os][profile.arch];
}

/**
 * Lint messages as plain text for a boot script's echo: iPXE expands ${…} and splits on quotes
 * and operators, GRUB's shell-like parser the same; nothing else survives.
 */
export function echoText(s: string): string {
  return s.replace(/[^A-Za-z0-9 .,:/_=+()<>@%!?*-]/g, (c) => (c === '"' || c === "'" ? '`' : '_'));
}

export const baseName = (path: string): string => path.split('/').pop()!;

export function dashMac(mac: string): string {
  return mac.replace(/:/g, '-');
}

function rockyArgs(ctx: RenderContext, urls: BootUrls): string[] {
  const { machine, profile, config, token } = ctx;
  const net = planNetwork(machine, profile);
  // ifname= pins each role's interface name to its MAC, in the installer and (via anaconda) on the host.
  const args = [
    `inst.ks=${urls.kickstart(token)}`,
    'inst.ks.sendmac',
    `inst.repo=${rockyMirror(config, profile.arch)}`,
    `BOOTIF=01-${dashMac(net.bootMac)}`,
    ...Object.entries(net.roles).map(([role, mac]) => `ifname=${role}:${mac}`),
  ];
  if (net.bootRole && net.bootIpv4 === 'static' && net.static) {
    const s = net.static;
    args.push(`ip=${s.address}::${s.gateway ?? ''}:${s.netmask}:${machine.name}:${net.bootRole}:none`);
    args.push(...s.dns.map((d) => `nameserver=${d}`));
  } else args.push(net.bootRole ? `ip=${net.bootRole}:dhcp` : 'ip=dhcp');
  return args;
}

function fcosArgs(ctx: RenderContext, urls: BootUrls): string[] {
  const sys = ctx.profile.disks.find((d) => d.name === ctx.profile.storage.disks[0]);
  return [
    `coreos.live.rootfs_url=${urls.asset('fcos/rootfs.img')}`,
    `coreos.inst.install_dev=${sys?.path}`,
    `coreos.inst.ignition_url=${urls.ignition(ctx.token)}`,
    'ignition.firstboot',
    'ignition.platform.id=metal',
  ];
}

/** The installer's arguments for this install: kickstart or Ignition URL with the token, network, console. */
export function installArgs(ctx: RenderContext): string[] {
  const urls = new BootUrls(ctx.urls.base);
  return [...(ctx.profile.os === 'fcos' ? fcosArgs(ctx, urls) : rockyArgs(ctx, urls)), ...consoleArgs(ctx.machine)];
}

/**
 * The discovery boot: the installer's own kernel and initrd (or discovery.image) with a kickstart
 * that only runs the inventory agent. `base` must have been checked (baseUrlProblem).
 */
export function discoverBoot(input: { mac: string; token: string; base: string; config: RenderContext['config'] }): { mac: string; assets: BootAssets; args: string[] } {
  const urls = new BootUrls(input.base);
  const mac = canonicalMac(input.mac)!;
  const image = input.config.discovery.image;
  const assets = image ?? ASSETS['rocky-9'].x86_64;
  const installer = [`inst.ks=${urls.discoveryKickstart(input.token)}`, 'inst.ks.sendmac', `inst.repo=${input.config.mirrors['rocky-9']}`, 'ip=dhcp'];
  // kickstand.url/token let an operator's live image run the agent with no arguments; the
  // token is already on this command line in inst.ks, and is good for this box's address only.
  const args = [
    ...(image ? image.args : installer),
    `BOOTIF=01-${dashMac(mac)}`,
    `kickstand.url=${urls.base}`,
    `kickstand.token=${input.token}`,
    ...input.config.discovery.kernelArgs,
  ];
  return { mac, assets, args };
}
