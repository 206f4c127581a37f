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
}

/**
 * Where the DHCP server keeps its leases: read once at start, then every change committed in
 * groups. The store implements it; DHCP code knows nothing else of the store.
 */
export interface LeaseBook {
  list(subnet?: string): Promise<Lease[]>;
  /** Several lease writes in one transaction: one fsync for a burst of DHCP traffic. */
  putMany(leases: Lease[]): Promise<void>;
}
