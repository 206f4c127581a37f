import { type Lease, type LeaseBook, mayTakeAddress } from '../../server/model/lease.js';

/** LeaseBook in memory with the store's rule that one address belongs to one MAC (mayTakeAddress). */
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
  async putMany(leases: Lease[]) {
    this.commits++;
    const held: Lease[] = [];
    for (const { reserved: _, ...l } of leases) {
      const holder = [...this.rows.values()].find((o) => o.ip === l.ip && o.mac !== l.mac);
      if (holder && !mayTakeAddress(holder, { ...l, reserved: _ })) {
        held.push(holder);
        continue;
      }
      if (holder) this.rows.delete(holder.mac);
      this.rows.set(l.mac, l);
    }
    return held;
  }
  async delete(mac: string) {
    this.rows.delete(mac);
  }
}
