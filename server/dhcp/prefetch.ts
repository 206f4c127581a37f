import type { BootView, MachineDirectory } from '../model/boot.js';
import { rawClientMac } from './codec.js';

/**
 * Directory lookups started before their packet's turn. Packets are decided one at a time, in
 * order, and each decision looks its MAC up in the directory; with a store over the network
 * (PostgreSQL) that is a round trip, and waited for one after the other they capped DHCP at one
 * packet per round trip: under a boot storm on a busy machine the queue grew and clients
 * retransmitted. Started ahead (the shell starts those of the next few packets in the queue),
 * the lookups run side by side.
 *
 * A decision reads what the directory said a moment before its turn: DHCP decisions write
 * leases, never what the directory holds, so no earlier decision in the queue changes the answer.
 */
export class PrefetchingDirectory implements MachineDirectory {
  private readonly started = new Map<string, Promise<BootView | undefined>>();

  constructor(private readonly directory: MachineDirectory) {}

  /** Starts the lookup of a queued packet's MAC; what decided() takes once the packet is decided. */
  arrived(buf: Buffer): { mac: string; lookup: Promise<BootView | undefined> } | undefined {
    const mac = rawClientMac(buf);
    if (mac === undefined || this.started.has(mac)) return undefined;
    const lookup = this.directory.byMac(mac);
    // The decision awaits it (and sees a failure); a packet dropped before its lookup does not.
    lookup.catch(() => undefined);
    this.started.set(mac, lookup);
    return { mac, lookup };
  }

  /** The packet was decided: a lookup it did not use is not kept for a later one. */
  decided(started: { mac: string; lookup: Promise<BootView | undefined> } | undefined): void {
    if (started && this.started.get(started.mac) === started.lookup) this.started.delete(started.mac);
  }

  byMac(mac: string): Promise<BootView | undefined> {
    const lookup = this.started.get(mac);
    if (!lookup) return this.directory.byMac(mac);
    this.started.delete(mac);
    return lookup;
  }
}
