import type { Config } from '../config/schema.js';
import { interfaceNetwork } from './interface-address.js';

/**
 * What one instance at a time answers when several share a store (store/subnet-locks.ts):
 * authoritative, each subnet (its CIDR); proxy, which has no subnets of its own, the segment it
 * answers on, named by the network of its interface (instances on one segment have addresses in
 * one network, instances on different segments in different ones).
 */
export function dhcpSegments(dhcp: Config['dhcp']): string[] {
  switch (dhcp.mode) {
    case 'off':
      return [];
    case 'authoritative':
      return dhcp.subnets.map((s) => s.cidr);
    case 'proxy':
      // No interface: startDhcpServer says so.
      return dhcp.interface ? [interfaceNetwork(dhcp.interface)] : [];
  }
}
