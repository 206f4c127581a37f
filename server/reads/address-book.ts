import type { AddressSink } from '../model/boot.js';

/**
 * Which MAC uses an address, so that TFTP and HTTP downloads (which carry only an address) land
 * on the right machine's record; and which address each MAC used in its latest DHCP exchange
 * with kickstand, the one address its install token may be handed to; and when each MAC was last
 * heard from in DHCP or HTTP (a box that is alive cannot be replaced by cabling). Bounded: a
 * rack's worth of addresses, the oldest forgotten first.
 */
export class AddressBook implements AddressSink {
  private readonly byIp = new Map<string, string>();
  private readonly dhcpByMac = new Map<string, string>();
  private readonly heardAt = new Map<string, number>();

  constructor(
    private readonly max = 65_536,
    private readonly now: () => number = Date.now,
  ) {}

  /** From the DHCP server: this MAC uses this address now. */
  learn(ip: string, mac: string): void {
    this.seen(ip, mac);
    remember(this.dhcpByMac, mac, ip, this.max);
  }

  /** From a request that names its MAC (an iPXE script): attribution only, no proof of the address. */
  seen(ip: string, mac: string): void {
    remember(this.byIp, ip, mac, this.max);
    remember(this.heardAt, mac, this.now(), this.max);
  }

  /** When this MAC last used DHCP with kickstand or asked for its iPXE script (this process's memory). */
  lastHeard(mac: string): number | undefined {
    return this.heardAt.get(mac);
  }

  macAt(ip: string): string | undefined {
    return this.byIp.get(ip);
  }

  dhcpAddressOf(mac: string): string | undefined {
    return this.dhcpByMac.get(mac);
  }
}

function remember<V>(map: Map<string, V>, key: string, value: V, max: number): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > max) map.delete(map.keys().next().value!);
}
