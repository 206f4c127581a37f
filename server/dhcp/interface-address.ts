import { execFileSync } from 'node:child_process';
import { networkInterfaces } from 'node:os';
import { parseCidr } from '../model/primitives.js';

/**
 * The interface's first IPv4 address with its prefix length (a.b.c.d/n). libuv lists only
 * interfaces that are up *and* have carrier, but a PXE interface may start without one (switch
 * port still negotiating, bridge with no port yet), so iproute2 is asked when Node does not see it.
 */
function firstIPv4(iface: string, hint: string): string {
  const seen = networkInterfaces()[iface]?.find((a) => a.family === 'IPv4')?.cidr;
  if (seen) return seen;
  try {
    const out = JSON.parse(execFileSync('ip', ['-j', '-4', 'addr', 'show', 'dev', iface], { encoding: 'utf8' })) as Array<{ addr_info?: Array<{ local?: string; prefixlen?: number }> }>;
    const first = out[0]?.addr_info?.[0];
    if (first?.local) return `${first.local}/${first.prefixlen ?? 32}`;
  } catch {
    // fall through to the error below
  }
  throw new Error(`dhcp.interface ${iface} has no IPv4 address; ${hint}`);
}

export function interfaceAddress(iface: string): string {
  return firstIPv4(iface, 'set dhcp.serverAddress (or http.publicUrl) or configure the interface').split('/')[0];
}

/** The network of the interface's first IPv4 address (e.g. 10.0.10.0/24): the segment the interface is on. */
export function interfaceNetwork(iface: string): string {
  const { network, prefix } = parseCidr(firstIPv4(iface, 'proxy DHCP names the segment it answers by the network of that address'));
  return `${network}/${prefix}`;
}
