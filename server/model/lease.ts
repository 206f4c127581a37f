/** A DHCP lease, as the authoritative server hands it out and the store keeps it. */
export interface Lease {
  mac: string;
  ip: string;
  /** CIDR of the subnet the lease belongs to */
  subnet: string;
  state: 'offered' | 'bound' | 'declined' | 'released';
  expiresAt: number;
  hostname?: string;
  clientId?: string;
  updatedAt: number;
  /**
   * The address is this MAC's machine's own (its inventory ipv4): it is taken from whoever holds
   * it. Said on a write, not stored.
   */
  reserved?: boolean;
}

/**
 * Whether a lease being written may take its address from the other MAC holding it: that lease
 * was released or has expired by the time of the write, or the address is the writer's
 * reservation. Anything else would hand one address to two clients: the write is refused.
 */
export function mayTakeAddress(held: Lease, by: Lease): boolean {
  return held.mac === by.mac || by.reserved === true || held.state === 'released' || held.expiresAt <= by.updatedAt;
}

/**
 * Where the DHCP server keeps its leases: read once at start (and again on taking over a
 * subnet), then every change committed in groups. The store implements it; DHCP code knows
 * nothing else of the store.
 */
export interface LeaseBook {
  list(subnet?: string): Promise<Lease[]>;
  /**
   * Several lease writes in one transaction: one fsync for a burst of DHCP traffic. A lease whose
   * address another MAC holds (see mayTakeAddress) is not written: the holder's lease comes back
   * instead, in the returned list (another instance gave the address while this one was not
   * answering the subnet, or before it took over). The rest are written.
   */
  putMany(leases: Lease[]): Promise<Lease[]>;
}

/**
 * Which subnets this instance answers when several instances share one store: each subnet is
 * answered by the one instance that holds its lock (store/subnet-locks.ts). Without one (one
 * instance per store), an instance answers all of its subnets.
 */
export interface SubnetOwnership {
  answers(subnet: string): boolean;
  /** fn after this instance took a subnet (answering) or lost it (with why). */
  onChange(fn: (subnet: string, answering: boolean, reason?: string) => void): void;
}
