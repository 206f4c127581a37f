import type { Lease, LeaseBook } from '../model/lease.js';

/**
 * Who a lease given to a MAC that is not in the inventory counts against: its subnet's share
 * for unknown machines, and its client (see clientKey in authoritative.ts).
 */
export interface UnknownHolder {
  client: string;
}

/**
 * In-memory mirror of this server's leases. Decisions read it synchronously (the allocator
 * probes many addresses per DISCOVER) and record changes as dirty; the socket shell writes
 * the dirty set with one `putMany` per burst and sends an ACK only once a commit covered its
 * version, so an ACK is never sent for a lease that is not durable, and a burst costs one fsync.
 * Like the store, one address belongs to one MAC: setting it for a MAC evicts the other.
 *
 * A declined address stays out of the pool for its hold even once its MAC has moved on to
 * another address (the hold lives in memory: a restart forgets it, as the store keeps one lease
 * per MAC).
 *
 * Addresses held for unknown machines (MACs not in the inventory) are counted, per subnet and
 * per client, while they stay out of the pool (offered, bound or declined, until they expire):
 * the caps that stop a flood of made-up MACs, or one client, from draining the pool read these
 * counts in O(1). Expiry is found with a heap of deadlines, so no decision scans the table.
 */
export class LeaseTable {
  private readonly macs = new Map<string, Lease>();
  private readonly ips = new Map<string, Lease>();
  private dirty = new Map<string, Lease>();
  /** Grows with every change; a commit covers everything up to the version it took. */
  version = 0;

  /** Counted addresses, with the lease holding each and what it counts against. */
  private readonly counted = new Map<string, { lease: Lease; client: string }>();
  private readonly bySubnet = new Map<string, number>();
  private readonly byClient = new Map<string, number>();
  private readonly deadlines = new Heap();
  /** The earliest deadline in the heap per counted address: one entry each, however often its lease is renewed. */
  private readonly scheduled = new Map<string, number>();

  static async load(repo: LeaseBook): Promise<LeaseTable> {
    const t = new LeaseTable();
    for (const l of await repo.list()) t.index(l);
    return t;
  }

  /**
   * Everything forgotten and `leases` taken as they are, nothing dirty: the store's leases when
   * this instance takes over a subnet another one was answering.
   */
  reset(leases: Lease[]): void {
    for (const m of [this.macs, this.ips, this.counted, this.bySubnet, this.byClient, this.scheduled]) m.clear();
    this.dirty = new Map();
    this.deadlines.clear();
    this.version++;
    for (const l of leases) this.index(l);
  }

  /** A lease the store holds for another MAC (a write refused by putMany): indexed as the store has it, not dirty. */
  adopt(lease: Lease): void {
    this.index(lease);
    this.version++;
  }

  byMac(mac: string): Lease | undefined {
    return this.macs.get(mac);
  }

  byIp(ip: string): Lease | undefined {
    return this.ips.get(ip);
  }

  /** Every MAC's lease, for start-up (the shell counts those of MACs not in the inventory). */
  all(): Lease[] {
    return [...this.macs.values()];
  }

  /** `unknown`: the MAC is not in the inventory; its address counts against the caps while held. */
  set(lease: Lease, unknown?: UnknownHolder): void {
    this.index(lease, unknown);
    this.dirty.set(lease.mac, lease);
    this.version++;
  }

  /** Counts a loaded lease (start-up) as an unknown machine's, without marking it dirty. */
  countUnknown(lease: Lease, holder: UnknownHolder, now: number): void {
    if (this.ips.get(lease.ip) === lease) this.count(lease, holder, now);
  }

  /** Free for `mac`: unleased, its own, released, or expired (declined addresses wait out their hold). */
  isFree(ip: string, mac: string, now: number): boolean {
    const l = this.ips.get(ip);
    return !l || (l.mac === mac && l.state !== 'declined') || l.state === 'released' || l.expiresAt <= now;
  }

  /** Addresses of `subnet` held for unknown machines at `now`. */
  unknownIn(subnet: string, now: number): number {
    this.expire(now);
    return this.bySubnet.get(subnet) ?? 0;
  }

  /** Addresses held by unknown machines of `client` at `now`. */
  heldBy(client: string, now: number): number {
    this.expire(now);
    return this.byClient.get(client) ?? 0;
  }

  /** What this MAC's own lease counts against at `now`, when it is counted (declined holds aside: those stay). */
  countedFor(mac: string, now: number): { client: string; subnet: string } | undefined {
    this.expire(now);
    const lease = this.macs.get(mac);
    const c = lease && this.counted.get(lease.ip);
    return c && c.lease === lease && lease.state !== 'declined' ? { client: c.client, subnet: lease.subnet } : undefined;
  }

  hasDirty(): boolean {
    return this.dirty.size > 0;
  }

  takeDirty(): Lease[] {
    const out = [...this.dirty.values()];
    this.dirty = new Map();
    return out;
  }

  private index(lease: Lease, unknown?: UnknownHolder): void {
    const old = this.macs.get(lease.mac);
    if (old && old.ip !== lease.ip && this.ips.get(old.ip) === old) {
      // A declined address stays held (and counted) after its MAC moved on; anything else is freed.
      if (old.state !== 'declined' || old.expiresAt <= lease.updatedAt) {
        this.ips.delete(old.ip);
        this.uncount(old.ip);
      }
    }
    const other = this.ips.get(lease.ip);
    if (other && other.mac !== lease.mac && this.macs.get(other.mac) === other) this.macs.delete(other.mac);
    this.uncount(lease.ip);
    this.macs.set(lease.mac, lease);
    this.ips.set(lease.ip, lease);
    if (unknown) this.count(lease, unknown, lease.updatedAt);
  }

  private count(lease: Lease, holder: UnknownHolder, now: number): void {
    if (lease.state === 'released' || lease.expiresAt <= now) return;
    this.uncount(lease.ip);
    this.counted.set(lease.ip, { lease, client: holder.client });
    bump(this.bySubnet, lease.subnet, 1);
    bump(this.byClient, holder.client, 1);
    const at = this.scheduled.get(lease.ip);
    if (at === undefined || at > lease.expiresAt) {
      this.scheduled.set(lease.ip, lease.expiresAt);
      this.deadlines.push(lease.expiresAt, lease.ip);
    }
  }

  private uncount(ip: string): void {
    const c = this.counted.get(ip);
    if (!c) return;
    this.counted.delete(ip);
    bump(this.bySubnet, c.lease.subnet, -1);
    bump(this.byClient, c.client, -1);
  }

  /**
   * Addresses whose deadline passed stop counting. An entry may be older than the lease now
   * holding its address (renewed since): then it is put back at that lease's deadline.
   */
  private expire(now: number): void {
    for (let top = this.deadlines.peek(); top && top.at <= now; top = this.deadlines.peek()) {
      this.deadlines.pop();
      const { ip, at } = top;
      if (this.scheduled.get(ip) !== at) continue; // superseded by an earlier entry
      const c = this.counted.get(ip);
      if (c && c.lease.expiresAt > now) {
        this.scheduled.set(ip, c.lease.expiresAt);
        this.deadlines.push(c.lease.expiresAt, ip);
        continue;
      }
      this.scheduled.delete(ip);
      this.uncount(ip);
    }
  }
}

function bump(map: Map<string, number>, key: string, by: number): void {
  const n = (map.get(key) ?? 0) + by;
  if (n > 0) map.set(key, n);
  else map.delete(key);
}

/** Binary min-heap of (deadline, address). Entries are never removed early: stale ones are skipped when they surface. */
class Heap {
  private readonly items: Array<{ at: number; ip: string }> = [];

  clear(): void {
    this.items.length = 0;
  }

  peek(): { at: number; ip: string } | undefined {
    return this.items[0];
  }

  push(at: number, ip: string): void {
    const a = this.items;
    a.push({ at, ip });
    for (let i = a.length - 1; i > 0; ) {
      const p = (i - 1) >> 1;
      if (a[p].at <= a[i].at) break;
      [a[p], a[i]] = [a[i], a[p]];
      i = p;
    }
  }

  pop(): void {
    const a = this.items;
    const last = a.pop();
    if (!last || a.length === 0) return;
    a[0] = last;
    for (let i = 0; ; ) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < a.length && a[l].at < a[m].at) m = l;
      if (r < a.length && a[r].at < a[m].at) m = r;
      if (m === i) break;
      [a[m], a[i]] = [a[i], a[m]];
      i = m;
    }
  }
}
