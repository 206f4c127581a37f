import type { Config } from '../config/schema.js';
import type { Machine } from '../model/machine.js';
import { ipv4ToInt } from '../model/primitives.js';

/**
 * A static address inside a subnet's dynamic range could be leased to another MAC before its
 * machine ever asks: the DHCP pool does not know the inventory. So the overlap is refused when
 * the machine is written, naming the field, instead of surfacing as an address conflict later.
 */
export function poolOverlap(machine: Machine, dhcp: Config['dhcp']): { path: string; message: string }[] {
  if (dhcp.mode !== 'authoritative' || !machine.ipv4) return [];
  const ip = machine.ipv4.address.split('/')[0];
  const n = ipv4ToInt(ip);
  const hit = dhcp.subnets.find((s) => s.range && ipv4ToInt(s.range[0]) <= n && n <= ipv4ToInt(s.range[1]));
  return hit
    ? [{ path: 'ipv4.address', message: `${ip} is inside the dynamic range ${hit.range![0]}–${hit.range![1]} of ${hit.cidr}: reserve it outside the pool` }]
    : [];
}
