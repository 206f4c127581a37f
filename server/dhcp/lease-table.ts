import type { Lease, LeaseBook } from '../model/lease.js';

/**
 * In-memory mirror of this server's leases. Decisions read it synchronously (the allocator
 * probes many addresses per DISCOVER) and record changes as dirty; the socket shell writes
 * the dirty set with one `putMany` per burst and sends an ACK only once a commit covered its
 * version, so an ACK is never sent for a lease that is not durable, and a burst costs one fsync.
 * Like the store, one address belongs to one MAC: setting it for a MAC evicts the other.
 */
export class LeaseTable {
  private readonly macs = new Map<string, Lease>();
  private readonly ips = new Map<string, Lease>();
  private dirty = new Map<string, Lease>();
  /** Grows with every change; a commit covers everything up to the version it took. */
  version = 0;

  static async load(repo: LeaseBook): Promise<LeaseTable> {
    const t = new LeaseTable();
    for (const l of await repo.list()) t.index(l);
    return t;
  }

  byMac(mac: string): Lease | undefined {
    return this.macs.get(mac);
  }

  byIp(ip: string): Lease | undefined {
    return this.ips.get(ip);
  }

  set(lease: Lease): void {
    this.index(lease);
    this.dirty.set(lease.mac, lease);
    this.version++;
  }

  /** Free for `mac`: unleased, its own, released, or expired (declined addresses wait out their hold). */
  isFree(ip: string, mac: string, now: number): boolean {
    const l = this.ips.get(ip);
    return !l || l.mac === mac || l.state === 'released' || l.expiresAt <= now;
  }

  hasDirty(): boolean {
    return this.dirty.size > 0;
  }

  takeDirty(): Lease[] {
    const out = [...this.dirty.values()];
    this.dirty = new Map();
    return out;
  }

  private index(lease: Lease): void {
    const old = this.macs.get(lease.mac);
    if (old && this.ips.get(old.ip) === old) this.ips.delete(old.ip);
    const other = this.ips.get(lease.ip);
    if (other && other.mac !== lease.mac) this.macs.delete(other.mac);
    this.macs.set(lease.mac, lease);
    this.ips.set(lease.ip, lease);
  }
}
