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

/** Disks are named by stable paths only: /dev/sda moves between boots on multi-controller hosts. */
export const StableDiskPath = z
  .string()
  .regex(
    /^\/dev\/disk\/by-(id|path|uuid|label|partlabel|partuuid|wwn)\/[^\s/]+$/,
    'must be a stable path under /dev/disk/by-id/, by-path/, … (not /dev/sdX)',
  )
  .meta({ example: '/dev/disk/by-id/wwn-0x5000c500a1b2c3d4' });

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
