import { BootUrls } from '../model/boot-urls.js';
import type { BootView } from '../model/boot.js';
import type { ClientInfo } from './client-info.js';

/**
 * What a netbooting client should load next, from its DHCP options alone. Same decision
 * table in proxy and authoritative mode.
 */

export type ClientFirmware = 'bios' | 'uefi-ia32' | 'uefi-x64' | 'uefi-arm64';

/**
 * iPXE binaries by firmware (under tftp.root), and the signed loaders of the GRUB path (pinned
 * boot assets under assets.dir, served over TFTP at the same relative path). shim loads
 * grubx64.efi / grubaa64.efi from its own directory, so each shim's GRUB must sit beside it.
 */
export interface BootFiles {
  bios: string;
  'uefi-ia32': string;
  'uefi-x64': string;
  'uefi-arm64': string;
  'shim-x64': string;
  'shim-arm64': string;
  'grub-arm64': string;
}

/** Debian's `ipxe` package ships the x86 files; ARM64 and IA32 builds are the operator's. */
export const DEFAULT_BOOT_FILES: BootFiles = {
  bios: 'undionly.kpxe',
  'uefi-ia32': 'ipxe-i386.efi',
  'uefi-x64': 'ipxe.efi',
  'uefi-arm64': 'ipxe-arm64.efi',
  // In grub/: Debian's netboot GRUB looks up grub/grub.cfg… by its built-in prefix, Rocky's in the
  // directory it was loaded from; both find kickstand's GRUB lookup there.
  'shim-x64': 'grub/shimx64.efi',
  'shim-arm64': 'grub/shimaa64.efi',
  'grub-arm64': 'grub/grubaa64.efi',
};

/** What the client runs first: iPXE, or the signed shim → GRUB chain, or GRUB alone (ARM64 without Secure Boot). */
export type Loader = 'ipxe' | 'shim' | 'grub';

export type BootTarget =
  /** PXE ROM: fetch the loader over TFTP. */
  | { kind: 'tftp'; firmware: ClientFirmware; loader: Loader; file: string }
  /** UEFI HTTP boot: fetch the loader over HTTP; the offer must say "HTTPClient". */
  | { kind: 'http'; firmware: ClientFirmware; loader: Loader; url: string }
  /** Already running iPXE: chain to this machine's script. */
  | { kind: 'ipxe-script'; firmware: ClientFirmware; loader: 'ipxe'; url: string };

/** What a known machine's profile says about its boot path (BootView's fields). */
export type BootProfile = Pick<BootView, 'arch' | 'secureBoot'>;

export type Classification = { boot: BootTarget } | { boot: undefined; reason: 'not-netboot' | 'unsupported-arch'; arch?: number };

/**
 * RFC 4578 §2.1 and the IANA "Processor Architecture Types" registry. 9 was assigned to EFI
 * byte code but x64 firmware sends it, so it is x64 here as in every PXE server in use. The
 * HTTP variants (15, 16, 19) are the same machines doing UEFI HTTP boot.
 */
const ARCH: Record<number, { firmware: ClientFirmware; http: boolean }> = {
  0: { firmware: 'bios', http: false },
  6: { firmware: 'uefi-ia32', http: false },
  7: { firmware: 'uefi-x64', http: false },
  9: { firmware: 'uefi-x64', http: false },
  11: { firmware: 'uefi-arm64', http: false },
  15: { firmware: 'uefi-ia32', http: true },
  16: { firmware: 'uefi-x64', http: true },
  19: { firmware: 'uefi-arm64', http: true },
};

export function isIpxe(info: Pick<ClientInfo, 'userClasses' | 'ipxeEncap'>): boolean {
  return info.ipxeEncap || info.userClasses.includes('iPXE');
}

/** Option 93 first; old ROMs only put the arch into the vendor class ("PXEClient:Arch:00007:…"). */
function archOf(info: ClientInfo): number | undefined {
  if (info.arch.length > 0) return info.arch[0];
  const m = /^(?:PXEClient|HTTPClient):Arch:(\d{5})/.exec(info.vendorClass ?? '');
  return m ? Number(m[1]) : undefined;
}

/**
 * The loader for this firmware and machine. Secure Boot firmware only runs what the UEFI CA
 * signed, and iPXE is not: a `secureBoot` profile gets shim (x64 and ARM64). An `aarch64` profile
 * boots GRUB, since no ARM64 iPXE ships signed or in Debian. Everything else (unknown MACs
 * included) keeps iPXE. BIOS and IA32 have no shim; the profile schema keeps secureBoot to UEFI.
 */
function loaderFor(firmware: ClientFirmware, machine: BootProfile | undefined, files: BootFiles): { loader: Loader; file: string; asset: boolean } {
  if (firmware === 'uefi-x64' && machine?.secureBoot) return { loader: 'shim', file: files['shim-x64'], asset: true };
  if (firmware === 'uefi-arm64' && machine?.arch === 'aarch64')
    return machine.secureBoot ? { loader: 'shim', file: files['shim-arm64'], asset: true } : { loader: 'grub', file: files['grub-arm64'], asset: true };
  return { loader: 'ipxe', file: files[firmware], asset: false };
}

export function classify(
  info: ClientInfo,
  mac: string,
  opts: { publicUrl: string; bootFiles: BootFiles },
  machine?: BootProfile,
): Classification {
  const vendor = info.vendorClass ?? '';
  const pxe = vendor.startsWith('PXEClient');
  const httpClient = vendor.startsWith('HTTPClient');
  const ipxe = isIpxe(info);
  if (!pxe && !httpClient && !ipxe && info.arch.length === 0) return { boot: undefined, reason: 'not-netboot' };

  const arch = archOf(info);
  // iPXE built without option 93 (rare, e.g. ipxe.lkrn) is a BIOS build.
  const entry = arch === undefined ? ARCH[0] : ARCH[arch];
  if (!entry) return { boot: undefined, reason: 'unsupported-arch', arch };
  const urls = new BootUrls(opts.publicUrl);
  if (ipxe) return { boot: { kind: 'ipxe-script', firmware: entry.firmware, loader: 'ipxe', url: urls.ipxe(mac) } };
  const { loader, file, asset } = loaderFor(entry.firmware, machine, opts.bootFiles);
  // shim and GRUB are pinned boot assets; iPXE binaries come from the TFTP root.
  if (entry.http || httpClient) return { boot: { kind: 'http', firmware: entry.firmware, loader, url: asset ? urls.asset(file) : urls.firmware(file) } };
  return { boot: { kind: 'tftp', firmware: entry.firmware, loader, file } };
}
