import { GRUB_CONFIG } from '../model/boot-urls.js';
import { canonicalMac } from '../model/primitives.js';
import { checkedBase, checkedView, dashMac, discoverBoot, echoText, installArgs, installAssets, type BootAssets, type ScriptRequest, type Urls } from './boot-args.js';
import { renderKey, type RenderContext } from './context.js';
import type { RenderEnv } from './env.js';
import type { ValueKind } from './kickstart-lint.js';
import { assertRenderable } from './lint.js';

/**
 * GRUB configurations for the signed network boot path (shim → GRUB → signed kernel), one per
 * boot situation as the iPXE scripts are, served over TFTP as GRUB looks them up: the per-MAC
 * `grub/grub.cfg-01-<mac with dashes>`, and `grub/grub.cfg`, which sends GRUB builds that only
 * read that one (Debian's signed grubnetx64) to the per-MAC file. Pure.
 *
 * Kernel and initrd come over TFTP from kickstand (a pinned boot asset's TFTP path is its path
 * under assets.dir): the signed netboot GRUBs of Debian and Rocky carry no HTTP module, and under
 * Secure Boot GRUB loads no module it does not carry.
 */
export type GrubRequest =
  | ScriptRequest
  /** `grub/grub.cfg`: the same for every machine */
  | { kind: 'lookup' };

/**
 * GRUB's parser is a shell's: it splits on blanks, expands $…, and treats quotes, `;`, `|`, `&`,
 * `<`, `>`, `{`, `}` and `#` specially. Every value goes into the config single-quoted (nothing
 * inside expands) and must hold no quote, $, blank or control character, as the lint checks.
 */
const GRUB_KINDS: Array<[RegExp, ValueKind]> = [[/^args\.\d+$/, 'url']];
/** The error config's lines were made printable by echoText. */
const ERROR_KINDS: Array<[RegExp, ValueKind]> = [[/^(lines\.\d+|name)$/, 'line'], ...GRUB_KINDS];

const checked = <T>(view: T, kinds = GRUB_KINDS): T => checkedView('GRUB', view, kinds);

/** kickstand's TFTP server as GRUB names it: the host of the base URL the machine reached kickstand at. */
function tftpDevice(urls: Urls): string {
  return `(tftp,${new URL(checkedBase(urls).base).hostname})`;
}

function files(device: string, assets: BootAssets) {
  return { kernel: `${device}/${assets.kernel}`, initrd: `${device}/${assets.initrd}` };
}

function installView(ctx: RenderContext) {
  const { machine, profile } = ctx;
  return {
    name: machine.name,
    profile: profile.name,
    os: profile.os,
    arch: profile.arch,
    secureBoot: profile.secureBoot,
    ...files(tftpDevice(ctx.urls), installAssets(profile)),
    args: installArgs(ctx),
  };
}

/**
 * Where an installed system's boot loader sits on its EFI system partition: the distributions'
 * shims first (what their NVRAM entry starts), the removable-media path last. GRUB chains to the
 * first it finds; its `exit` would return success to the firmware, and EDK2 then opens its boot
 * menu instead of trying the next boot option (Debian's GRUB 2.06 ignores exit's status).
 */
const LOCAL_LOADERS = {
  x86_64: ['rocky', 'redhat', 'centos', 'almalinux', 'fedora', 'debian', 'ubuntu'].map((d) => `/EFI/${d}/shimx64.efi`).concat('/EFI/BOOT/BOOTX64.EFI'),
  aarch64: ['rocky', 'redhat', 'centos', 'almalinux', 'fedora', 'debian', 'ubuntu'].map((d) => `/EFI/${d}/shimaa64.efi`).concat('/EFI/BOOT/BOOTAA64.EFI'),
};

export function renderGrub(req: GrubRequest, env: RenderEnv): string {
  switch (req.kind) {
    case 'install': {
      const ctx = req.ctx;
      return env.memoize('templates', renderKey('grub-install', ctx), ctx.token, (token) => {
        assertRenderable(ctx);
        return env.render('templates', 'grub/install.grub', checked(installView({ ...ctx, token })));
      });
    }
    case 'local':
      return env.render('templates', 'grub/local.grub', checked({ name: req.name, loaders: LOCAL_LOADERS[req.arch ?? 'x86_64'] }));
    case 'unknown':
      return env.render('templates', 'grub/unknown.grub', { mac: canonicalMac(req.mac) ?? echoText(req.mac) });
    case 'discover': {
      const device = tftpDevice(req.urls);
      const { mac, assets, args } = discoverBoot({ mac: req.mac, token: req.token, base: req.urls.base, config: req.config });
      return env.render('templates', 'grub/discover.grub', checked({ mac, ...files(device, assets), args }));
    }
    case 'error':
      return env.render(
        'templates',
        'grub/error.grub',
        checked(
          {
            name: echoText(req.name),
            lines: req.problems
              .flatMap((p) => `${p.path}: ${p.message}`.split('\n'))
              .slice(0, 20)
              .map(echoText),
            retry: `${tftpDevice(req.urls)}/${GRUB_CONFIG}-01-${dashMac(canonicalMac(req.mac) ?? '00:00:00:00:00:00')}`,
          },
          ERROR_KINDS,
        ),
      );
    case 'lookup':
      return env.render('templates', 'grub/grub.cfg', {});
  }
}
