import { execFileSync } from 'node:child_process';
import { networkInterfaces } from 'node:os';

/**
 * libuv lists only interfaces that are up *and* have carrier, but a PXE interface may start
 * without one (switch port still negotiating, bridge with no port yet), so iproute2 is asked
 * when Node does not see it.
 */
export function interfaceAddress(iface: string): string {
  const seen = networkInterfaces()[iface]?.find((a) => a.family === 'IPv4')?.address;
  if (seen) return seen;
  try {
    const out = JSON.parse(execFileSync('ip', ['-j', '-4', 'addr', 'show', 'dev', iface], { encoding: 'utf8' })) as Array<{ addr_info?: Array<{ local?: string }> }>;
    const local = out[0]?.addr_info?.[0]?.local;
    if (local) return local;
  } catch {
    // fall through to the error below
  }
  throw new Error(`dhcp.interface ${iface} has no IPv4 address; set dhcp.serverAddress (or http.publicUrl) or configure the interface`);
}
