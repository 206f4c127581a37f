import { canonicalMac } from '../model/primitives.js';
import { BootUrls } from '../model/boot-urls.js';
import { baseName, checkedBase, checkedView, discoverBoot, echoText, installArgs, installAssets, type ScriptRequest, type Urls } from './boot-args.js';
import { renderKey, type RenderContext } from './context.js';
import type { RenderEnv } from './env.js';
import type { ValueKind } from './kickstart-lint.js';
import { assertRenderable } from './lint.js';

/**
 * iPXE scripts, one per boot situation. The caller renders the install's config before serving
 * an install script, and serves the error script when that fails (with a failed event), so a
 * machine whose config cannot render shows why and asks again, never an installer that fails halfway.
 */
export type IpxeRequest =
  | ScriptRequest
  /** for a firmware-loaded iPXE with no script of its own: DHCP on any NIC, then chain */
  | { kind: 'bootstrap'; urls: Urls };

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
/** The error script's text was made printable (no $, quotes or backslash) by echoText. */
const ERROR_KINDS: Array<[RegExp, ValueKind]> = [[/^(lines\.\d+|name)$/, 'line'], ...IPXE_KINDS];

const checked = <T>(view: T, kinds = IPXE_KINDS): T => checkedView('iPXE', view, kinds);

/** The installer's own kernel and initrd, with a kickstart that only runs the inventory agent. */
function discoverView(req: Extract<IpxeRequest, { kind: 'discover' }>) {
  const urls = new BootUrls(checkedBase(req.urls).base);
  const { mac, assets, args } = discoverBoot({ mac: req.mac, token: req.token, base: urls.base, config: req.config });
  const initrdName = baseName(assets.initrd);
  return {
    mac,
    kernel: { name: baseName(assets.kernel), url: urls.asset(assets.kernel) },
    initrd: { name: initrdName, url: urls.asset(assets.initrd) },
    args: [`initrd=${initrdName}`, ...args].join(' '),
  };
}

function installView(ctx: RenderContext) {
  const urls = new BootUrls(ctx.urls.base);
  const { machine, profile } = ctx;
  const assets = installAssets(profile);
  const initrdName = baseName(assets.initrd);
  return {
    name: machine.name,
    profile: profile.name,
    os: profile.os,
    firmware: profile.firmware,
    kernel: { name: baseName(assets.kernel), url: urls.asset(assets.kernel) },
    initrd: { name: initrdName, url: urls.asset(assets.initrd) },
    // UEFI iPXE hands the initrd to the kernel by name
    args: [`initrd=${initrdName}`, ...installArgs(ctx)].join(' '),
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
      return env.render('templates', 'ipxe/unknown.ipxe', { mac: canonicalMac(req.mac) ?? echoText(req.mac) });
    case 'discover':
      return env.render('templates', 'ipxe/discover.ipxe', checked(discoverView(req)));
    case 'error':
      return env.render(
        'templates',
        'ipxe/error.ipxe',
        checked({
          name: echoText(req.name),
          lines: req.problems
            .flatMap((p) => `${p.path}: ${p.message}`.split('\n'))
            .slice(0, 20)
            .map(echoText),
          retryUrl: new BootUrls(checkedBase(req.urls).base).ipxe(canonicalMac(req.mac) ?? ''),
        }, ERROR_KINDS),
      );
    case 'bootstrap':
      // ${netX/mac} is iPXE's own expansion, meant: only the base URL is checked
      return env.render('templates', 'ipxe/bootstrap.ipxe', { scriptUrl: new BootUrls(checkedBase(req.urls).base).ipxe('${netX/mac}') });
  }
}
