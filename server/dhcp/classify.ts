import { BootUrls } from '../model/boot-urls.js';
import type { ClientInfo } from './client-info.js';

/**
 * What a netbooting client should load next, from its DHCP options alone. Same decision
 * table in proxy and authoritative mode.
 */

export type ClientFirmware = 'bios' | 'uefi-ia32' | 'uefi-x64' | 'uefi-arm64';

export interface BootFiles {
  bios: string;
  'uefi-ia32': string;
  'uefi-x64': string;
  'uefi-arm64': string;
}

/** Debian's `ipxe` package ships the x86 files; ARM64 and IA32 builds are the operator's. */
export const DEFAULT_BOOT_FILES: BootFiles = {
  bios: 'undionly.kpxe',
  'uefi-ia32': 'ipxe-i386.efi',
  'uefi-x64': 'ipxe.efi',
  'uefi-arm64': 'ipxe-arm64.efi',
};

export type BootTarget =
  /** PXE ROM: fetch an iPXE binary over TFTP. */
  | { kind: 'tftp'; firmware: ClientFirmware; file: string }
  /** UEFI HTTP boot: fetch the iPXE EFI binary over HTTP; the offer must say "HTTPClient". */
  | { kind: 'http'; firmware: ClientFirmware; url: string }
  /** Already running iPXE: chain to this machine's script. */
  | { kind: 'ipxe-script'; firmware: ClientFirmware; url: string };

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

export function classify(
  info: ClientInfo,
  mac: string,
  opts: { publicUrl: string; bootFiles: BootFiles },
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
  if (ipxe) return { boot: { kind: 'ipxe-script', firmware: entry.firmware, url: urls.ipxe(mac) } };
  const file = opts.bootFiles[entry.firmware];
  if (entry.http || httpClient) return { boot: { kind: 'http', firmware: entry.firmware, url: urls.firmware(file) } };
  return { boot: { kind: 'tftp', firmware: entry.firmware, file } };
}
