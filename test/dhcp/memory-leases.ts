import type { Lease, LeaseBook } from '../../server/model/lease.js';

/** LeaseBook in memory with the store's rule that one address belongs to one MAC. */
export class MemoryLeases implements LeaseBook {
  readonly rows = new Map<string, Lease>();
  commits = 0;

  async byMac(mac: string) {
    return this.rows.get(mac);
  }
  async byIp(ip: string) {
    return [...this.rows.values()].find((l) => l.ip === ip);
  }
  async list(subnet?: string) {
    return [...this.rows.values()].filter((l) => !subnet || l.subnet === subnet);
  }
  async put(lease: Lease) {
    await this.putMany([lease]);
  }
  async putMany(leases: Lease[]) {
    this.commits++;
    for (const l of leases) {
      for (const [mac, other] of this.rows) if (other.ip === l.ip && mac !== l.mac) this.rows.delete(mac);
      this.rows.set(l.mac, { ...l });
    }
  }
  async delete(mac: string) {
    this.rows.delete(mac);
  }
}
