import type { AddressSink } from '../model/boot.js';

/**
 * Which MAC uses an address, learned from DHCP exchanges and iPXE script requests, so that TFTP
 * and HTTP downloads (which carry only an address) land on the right machine's record. Bounded:
 * a rack's worth of addresses, the oldest forgotten first.
 */
export class AddressBook implements AddressSink {
  private readonly byIp = new Map<string, string>();

  constructor(private readonly max = 65_536) {}

  learn(ip: string, mac: string): void {
    this.byIp.delete(ip);
    this.byIp.set(ip, mac);
    if (this.byIp.size > this.max) this.byIp.delete(this.byIp.keys().next().value!);
  }

  macAt(ip: string): string | undefined {
    return this.byIp.get(ip);
  }
}
