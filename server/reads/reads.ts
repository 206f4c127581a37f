import type { StoredEvent } from '../model/events.js';
import type { Lease } from '../model/lease.js';
import type { Machine } from '../model/machine.js';
import type { Profile } from '../model/profile.js';
import type { MachineStatus } from '../model/status.js';
import type { InstallToken } from '../model/token.js';
import type { Store } from '../store/store.js';
import type { AddressBook } from './address-book.js';

/** A machine with everything a request about it needs, resolved in one place. */
export interface MachineRecord {
  machine: Machine;
  profile: Profile;
  /** Absent only for a machine written by an older kickstand that never registered it. */
  status?: MachineStatus;
  /** The token of the current install, while the machine is to be installed. */
  token?: InstallToken;
}

/**
 * The one way to read machines, profiles, states, tokens, leases and events (the selection layer,
 * as in Matchbox's server/). Routes, DHCP, TFTP, the lifecycle and the converger read through
 * here; the store's caches sit behind it, so what is cached is decided in one place.
 */
export class Reads {
  constructor(
    private readonly store: Store,
    private readonly addresses: AddressBook,
  ) {}

  machine(name: string): Promise<Machine | undefined> {
    return this.store.machines.get(name);
  }
  machineByMac(mac: string): Promise<Machine | undefined> {
    return this.store.machines.byMac(mac);
  }
  machines(): Promise<Machine[]> {
    return this.store.machines.list();
  }
  profile(name: string): Promise<Profile | undefined> {
    return this.store.profiles.get(name);
  }
  profiles(): Promise<Profile[]> {
    return this.store.profiles.list();
  }
  status(name: string): Promise<MachineStatus | undefined> {
    return this.store.status.get(name);
  }
  statuses(): Promise<MachineStatus[]> {
    return this.store.status.list();
  }
  token(token: string): Promise<InstallToken | undefined> {
    return this.store.tokens.get(token);
  }
  events(query: { machine?: string; afterId?: number; limit?: number }): Promise<StoredEvent[]> {
    return this.store.events.list(query);
  }
  /**
   * Hears of events committed by any instance on the same database (Store.watchEvents), for
   * readers that then read by id; undefined when the store has no other writers (SQLite).
   */
  get watchEvents(): ((onNew: (lastId?: number) => void) => () => void) | undefined {
    const store = this.store;
    return store.watchEvents && ((onNew) => store.watchEvents!(onNew));
  }
  /** A machine's newest `limit` events since a time, oldest first. */
  eventsTail(query: { machine: string; since: number; limit: number }): Promise<StoredEvent[]> {
    return this.store.events.tail(query);
  }

  /** The machine by name with its profile, status and current install token. */
  async record(name: string): Promise<MachineRecord | undefined> {
    return this.complete(await this.store.machines.get(name));
  }

  async recordByMac(mac: string): Promise<MachineRecord | undefined> {
    return this.complete(await this.store.machines.byMac(mac));
  }

  /** Which machine an address belongs to, as far as DHCP and iPXE script requests told. */
  async machineAt(ip: string): Promise<{ mac?: string; machine?: string }> {
    const mac = this.addresses.macAt(ip);
    return { mac, machine: mac ? (await this.machineByMac(mac))?.name : undefined };
  }

  /**
   * When a MAC was last heard from: in DHCP or HTTP by this process, or in DHCP by any instance
   * sharing the store (its lease's last change: a renewal is one).
   */
  async lastHeard(mac: string): Promise<number | undefined> {
    const lease = await this.store.leases.byMac(mac);
    return Math.max(this.addresses.lastHeard(mac) ?? 0, lease?.updatedAt ?? 0) || undefined;
  }

  /**
   * The address kickstand's DHCP acknowledged for this MAC: its bound lease in the store (an ACK
   * is sent only once its lease is stored), which any instance may have given; else what this
   * process learned (a store without the lease: tests of DHCP alone).
   */
  async dhcpAddressOf(mac: string): Promise<string | undefined> {
    const lease = await this.store.leases.byMac(mac);
    return lease?.state === 'bound' ? lease.ip : this.addresses.dhcpAddressOf(mac);
  }

  /** Where the installed host answers: its static address, else its bound DHCP lease. */
  async address(machine: Machine): Promise<string | undefined> {
    if (machine.ipv4) return machine.ipv4.address.split('/')[0];
    for (const mac of machine.macs) {
      const lease = await this.store.leases.byMac(mac);
      if (lease && lease.state === 'bound') return lease.ip;
    }
    return undefined;
  }

  private async complete(machine: Machine | undefined): Promise<MachineRecord | undefined> {
    if (!machine) return undefined;
    const [profile, status] = await Promise.all([this.store.profiles.get(machine.profile), this.store.status.get(machine.name)]);
    // A machine's profile cannot be deleted while the machine uses it: none means a store edited by hand.
    if (!profile) return undefined;
    if (status?.netboot !== 'install') return { machine, profile, status };
    const token = await this.store.tokens.current(machine.name);
    return { machine, profile, status, token: token?.installId === status.installId ? token : undefined };
  }
}
