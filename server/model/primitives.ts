import { z } from 'zod';

/**
 * Accepts the MAC notations operators paste from BMC pages, switches and dmidecode
 * (colons, dashes, Cisco dots, bare hex, any case) and stores one canonical form,
 * so uniqueness across machines is a plain string comparison.
 */
export function canonicalMac(input: string): string | undefined {
  const hex = input.trim().toLowerCase().replace(/[:.\-\s]/g, '');
  if (!/^[0-9a-f]{12}$/.test(hex)) return undefined;
  return hex.match(/../g)!.join(':');
}

export const Mac = z
  .string()
  .transform((s, ctx) => {
    const mac = canonicalMac(s);
    if (!mac) {
      ctx.addIssue({ code: 'custom', message: `not a MAC address: "${s}"` });
      return z.NEVER;
    }
    return mac;
  })
  .meta({ description: 'MAC address in any common notation; stored as lower-case aa:bb:cc:dd:ee:ff', example: '52:54:00:12:34:56' });

/** RFC 1123 host name: labels of letters, digits and inner hyphens. */
export const Hostname = z
  .string()
  .min(1)
  .max(253)
  .regex(/^(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*$/, 'must be a lower-case RFC 1123 host name')
  .meta({ example: 'web-01' });

/** Names of profiles, NIC roles, volume groups: safe in file names, templates and kickstart. */
export const Ident = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-zA-Z][a-zA-Z0-9_.-]*$/, 'must start with a letter and hold only letters, digits, _ . -');

const octet = '(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const ipv4Re = new RegExp(`^${octet}(\\.${octet}){3}$`);
export const IPv4 = z.string().regex(ipv4Re, 'must be a dotted IPv4 address').meta({ example: '10.0.10.1' });
export const CidrV4 = z
  .string()
  .regex(new RegExp(`^${octet}(\\.${octet}){3}/(3[0-2]|[12]?\\d)$`), 'must be an IPv4 address with prefix, e.g. 10.0.10.21/24')
  .meta({ example: '10.0.10.21/24' });

/**
 * Disks are named by stable paths only: /dev/sda moves between boots on multi-controller hosts.
 * The name is what udev makes of a model, serial, WWN or PCI path (letters, digits, _ . : + @ -):
 * it lands unquoted in kickstart options (--ondisk=, a comma-separated --only-use=) and on the
 * installer's kernel command line, so nothing that splits or quotes is allowed (udev's \x20
 * escapes included).
 */
export const StableDiskPath = z
  .string()
  .regex(
    /^\/dev\/disk\/by-(id|path|uuid|label|partlabel|partuuid|wwn)\/[A-Za-z0-9][A-Za-z0-9_.:+@-]*$/,
    'must be a stable path under /dev/disk/by-id/, by-path/, … (not /dev/sdX), its name made of letters, digits, _ . : + @ -',
  )
  .meta({ example: '/dev/disk/by-id/wwn-0x5000c500a1b2c3d4' });

/**
 * Every string a profile or machine carries into a rendered file is held to the alphabet of what
 * it names, anchored at both ends (JavaScript's `$` does not match before a final newline), so a
 * value can never end its line, close its quotes or open a kickstart section. Free text (file
 * contents, converge commands) is not declared with these.
 */

/** One line of printable text: no line break, no control character. */
export const OneLine = z.string().regex(/^[^\x00-\x1f\x7f]*$/, 'must be one line of text, without line breaks or control characters');

/** A DNS name (search domains, NTP servers): letters, digits and inner hyphens in dot-separated labels. */
export const DnsName = z
  .string()
  .max(253)
  .regex(/^(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*$/, 'must be a DNS name (letters, digits, inner hyphens; dot-separated)');

/**
 * An absolute path: segments of letters, digits and _ . @ + , : = ~ -, never "." or "..", no
 * doubled or trailing slash; "/" itself is allowed. Mountpoints, file paths and secret files.
 */
export const ABSOLUTE_PATH = /^(\/|(\/(?!\.\.?(\/|$))[A-Za-z0-9_.@+,:=~-]+)+)$/;
export const AbsolutePath = z
  .string()
  .max(4096)
  .regex(ABSOLUTE_PATH, 'must be an absolute path of letters, digits and _ . @ + , : = ~ - (no "..", no spaces or quotes)');

/**
 * crypt(3) hashes as anaconda, Ignition and shadow take them: $1$ (MD5), $5$/$6$ (SHA-crypt,
 * optional rounds=), $y$/$gy$/$7$ (yescrypt, gost-yescrypt, scrypt) and $2a$/$2b$/$2y$ (bcrypt).
 * Salts and hashes use crypt's own base64 alphabet [./A-Za-z0-9].
 */
export const CRYPT_HASH =
  /^(\$(1|5|6)\$(rounds=[1-9]\d{0,9}\$)?[./A-Za-z0-9]{1,16}\$[./A-Za-z0-9]{1,86}|\$(y|gy|7)\$[./A-Za-z0-9]{1,64}\$[./A-Za-z0-9]{1,86}\$[./A-Za-z0-9]{1,86}|\$2[aby]\$\d\d\$[./A-Za-z0-9]{53})$/;
export const CryptHash = z
  .string()
  .regex(CRYPT_HASH, 'a crypt(3) hash ($6$salt$hash, $y$…, $5$…, $2b$…), never a clear password');

/**
 * One OpenSSH public key line: key type, base64 blob, an optional comment. No authorized_keys
 * options (they hold quotes); the comment is printable ASCII without quotes, backslash, backtick
 * or $, as it is written inside double quotes in the kickstart.
 */
export const SSH_PUBLIC_KEY =
  /^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+={0,3}( [^\x00-\x1f\x7f"'`$\\]{1,256})?$/;
export const SshPublicKey = z
  .string()
  .max(16384)
  .regex(SSH_PUBLIC_KEY, 'must be one OpenSSH public key line: type, base64 key, optional comment without quotes, backslash, backtick or $');

/** POSIX user and group names, as useradd takes them. */
export const PosixName = z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, 'POSIX name: lower-case letter or _, then letters, digits, _ or - (at most 32)');

/**
 * http(s) URL in RFC 3986's characters, less those a kickstart or shell line would take as quoting,
 * expansion or a comment (' ( ) $ #); % only as a %XX escape.
 */
export const HttpUrl = z
  .string()
  .max(2048)
  .regex(/^https?:\/\/([A-Za-z0-9\-._~:/?[\]@!&*+,;=]|%[0-9A-Fa-f]{2})+$/, 'must be an http(s) URL without spaces, quotes, ( ) $ or # (percent-encode them)')
  .refine((s) => URL.canParse(s), 'must be a valid URL');

export const Sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lower-case hex digits');

export function ipv4ToInt(ip: string): number {
  return ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
}
export function intToIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}
/** Splits "10.0.10.21/24" into address, prefix and dotted netmask. */
export function parseCidr(cidr: string): { address: string; prefix: number; netmask: string; network: string } {
  const [address, p] = cidr.split('/');
  const prefix = Number(p);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return { address, prefix, netmask: intToIpv4(mask), network: intToIpv4((ipv4ToInt(address) & mask) >>> 0) };
}
