import { canonicalMac } from '../model/primitives.js';
import { BootUrls } from '../model/boot-urls.js';
import { consoleArgs, renderKey, type RenderContext } from './context.js';
import type { RenderEnv } from './env.js';
import { lintValues, type ValueKind } from './kickstart-lint.js';
import { assertRenderable, baseUrlProblem } from './lint.js';
import { planNetwork } from './network-plan.js';
import { RenderError, type Problem } from '../model/errors.js';

/**
 * iPXE scripts, one per boot situation. The caller renders the install's config before serving
 * an install script, and serves the error script when that fails (with a failed event), so a
 * machine whose config cannot render shows why and asks again, never an installer that fails halfway.
 */
export type Urls = RenderContext['urls'];

export type IpxeRequest =
  | { kind: 'install'; ctx: RenderContext }
  | { kind: 'local'; name: string; firmware: 'bios' | 'uefi'; urls: Urls }
  | { kind: 'unknown'; mac: string; urls: Urls }
  /** an unknown MAC under unknownMachines: discover; token is its discovery token */
  | { kind: 'discover'; mac: string; token: string; urls: Urls; config: RenderContext['config'] }
  | { kind: 'error'; name: string; mac: string; problems: Problem[]; urls: Urls }
  /** for a firmware-loaded iPXE with no script of its own: DHCP on any NIC, then chain */
  | { kind: 'bootstrap'; urls: Urls };

/** iPXE expands ${…} and splits on quotes and operators; lint messages must print as plain text. */
function ipxeText(s: string): string {
  return s.replace(/[^A-Za-z0-9 .,:/_=+()<>@%!?*-]/g, (c) => (c === '"' || c === "'" ? '`' : '_'));
}

/**
 * iPXE runs a script line by line, splits a line on spaces and expands ${…} everywhere, with no
 * quoting to turn that off: every value printed into a script must be one word (args: words
 * joined by single spaces), without $ or quotes. The profile and machine were linted already;
 * this also catches what a view composes (URLs from the base URL, mirrors from the config).
 */
const IPXE_KINDS: Array<[RegExp, ValueKind]> = [
  [/^args$/, 'spacedUrl'],
  [/(^|\.)(url|retryUrl)$/, 'url'],
];
/** The error script's text was made printable (no $, quotes or backslash) by ipxeText. */
const ERROR_KINDS: Array<[RegExp, ValueKind]> = [[/^(lines\.\d+|name)$/, 'line'], ...IPXE_KINDS];

function checked<T>(view: T, kinds = IPXE_KINDS): T {
  const problems = lintValues(view, (path) => kinds.find(([re]) => re.test(path))?.[1] ?? 'word').map((p) => ({
    ...p,
    message: `iPXE value ${p.path} ${p.message}`,
  }));
  if (problems.length) throw new RenderError(problems);
  return view;
}

/** The base URL goes into chain URLs; a bad one (a forged Host header) is refused before it reaches a script. */
function checkedBase(urls: Urls): Urls {
  const problem = baseUrlProblem(urls.base);
  if (problem) throw new RenderError([problem]);
  return urls;
}

function dashMac(mac: string): string {
  return mac.replace(/:/g, '-');
}

function rockyArgs(ctx: RenderContext, urls: BootUrls): string[] {
  const { machine, profile, config, token } = ctx;
  const net = planNetwork(machine, profile);
  // ifname= pins each role's interface name to its MAC, in the installer and (via anaconda) on the host.
  const args = [
    `inst.ks=${urls.kickstart(token)}`,
    'inst.ks.sendmac',
    `inst.repo=${config.mirrors['rocky-9']}`,
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

/** The installer's own kernel and initrd, with a kickstart that only runs the inventory agent. */
function discoverView(req: Extract<IpxeRequest, { kind: 'discover' }>) {
  const urls = new BootUrls(checkedBase(req.urls).base);
  const mac = canonicalMac(req.mac)!;
  const image = req.config.discovery.image;
  const assets = image ?? ASSETS['rocky-9'];
  const initrdName = assets.initrd.split('/').pop()!;
  const installer = [`inst.ks=${urls.discoveryKickstart(req.token)}`, 'inst.ks.sendmac', `inst.repo=${req.config.mirrors['rocky-9']}`, 'ip=dhcp'];
  // kickstand.url/token let an operator's live image run the agent with no arguments; the
  // token is already on this command line in inst.ks, and is good for this box's address only.
  const args = [
    `initrd=${initrdName}`,
    ...(image ? image.args : installer),
    `BOOTIF=01-${dashMac(mac)}`,
    `kickstand.url=${urls.base}`,
    `kickstand.token=${req.token}`,
    ...req.config.discovery.kernelArgs,
  ];
  return {
    mac,
    kernel: { name: assets.kernel.split('/').pop(), url: urls.asset(assets.kernel) },
    initrd: { name: initrdName, url: urls.asset(assets.initrd) },
    args: args.join(' '),
  };
}

const ASSETS = {
  'rocky-9': { kernel: 'rocky-9/vmlinuz', initrd: 'rocky-9/initrd.img' },
  fcos: { kernel: 'fcos/kernel', initrd: 'fcos/initramfs.img' },
} as const;

function installView(ctx: RenderContext) {
  const urls = new BootUrls(ctx.urls.base);
  const { machine, profile } = ctx;
  const assets = ASSETS[profile.os];
  const initrdName = assets.initrd.split('/').pop()!;
  const args = [
    // UEFI iPXE hands the initrd to the kernel by name
    `initrd=${initrdName}`,
    ...(profile.os === 'fcos' ? fcosArgs(ctx, urls) : rockyArgs(ctx, urls)),
    ...consoleArgs(machine),
  ];
  return {
    name: machine.name,
    profile: profile.name,
    os: profile.os,
    firmware: profile.firmware,
    kernel: { name: assets.kernel.split('/').pop(), url: urls.asset(assets.kernel) },
    initrd: { name: initrdName, url: urls.asset(assets.initrd) },
    args: args.join(' '),
  };
}

export function renderIpxe(req: IpxeRequest, env: RenderEnv): string {
  switch (req.kind) {
    case 'install': {
      const ctx = req.ctx;
      return env.memoize('templates', renderKey('ipxe-install', ctx), ctx.token, (token) => {
        assertRenderable(ctx);
        return env.render('templates', 'ipxe/install.ipxe', checked(installView({ ...ctx, token })));
      });
    }
    case 'local':
      return env.render('templates', 'ipxe/local.ipxe', checked({ name: req.name, firmware: req.firmware, bios: req.firmware === 'bios' }));
    case 'unknown':
      return env.render('templates', 'ipxe/unknown.ipxe', { mac: canonicalMac(req.mac) ?? ipxeText(req.mac) });
    case 'discover':
      return env.render('templates', 'ipxe/discover.ipxe', checked(discoverView(req)));
    case 'error':
      return env.render(
        'templates',
        'ipxe/error.ipxe',
        checked({
          name: ipxeText(req.name),
          lines: req.problems
            .flatMap((p) => `${p.path}: ${p.message}`.split('\n'))
            .slice(0, 20)
            .map(ipxeText),
          retryUrl: new BootUrls(checkedBase(req.urls).base).ipxe(canonicalMac(req.mac) ?? ''),
        }, ERROR_KINDS),
      );
    case 'bootstrap':
      // ${netX/mac} is iPXE's own expansion, meant: only the base URL is checked
      return env.render('templates', 'ipxe/bootstrap.ipxe', { scriptUrl: new BootUrls(checkedBase(req.urls).base).ipxe('${netX/mac}') });
  }
}
