import type { Machine } from '../model/machine.js';
import type { InstallToken } from '../model/token.js';

/** What a cached row is: m machine, p profile, s status, t the install tokens of a machine. */
export type RowKind = 'm' | 'p' | 's' | 't';

/**
 * Rows by key for the PostgreSQL store's hot reads (machines, profiles, statuses and install
 * tokens: the boot path reads the same ones on every request), forgotten on every instance as
 * soon as any instance writes them. A write sends NOTIFY kickstand_rows 'KIND:KEY' (ids only)
 * in its own transaction; each instance listens, and forgets what it is told of.
 *
 * Machines are also kept by MAC (every DHCP packet and boot event is looked up by MAC). A MAC
 * changes hands only through writes of the machines that hold it, its old one first (a MAC
 * belongs to one machine), and each of them is announced as 'm:NAME': that forgets every MAC
 * kept for NAME. A MAC without a machine is not kept.
 *
 * Two rules keep an entry never older than its row:
 * - a read result is kept only if its row was not written while the read ran, so a read that
 *   raced a write cannot put the old row back after the notification dropped it;
 * - nothing is kept while the listening connection is down (a notification could be missed),
 *   and everything is forgotten when it comes back.
 */
export class SharedCache {
  /** Reads under way; a write of their row (any token, for token reads) spoils them. */
  private readonly reading = new Set<{ kind: RowKind | 'mac'; key: string; spoiled: boolean }>();
  private listening = false;
  private readonly rows = { m: new Map<string, unknown>(), p: new Map<string, unknown>(), s: new Map<string, unknown>() };
  private readonly tokens = new Map<string, InstallToken>();
  private readonly current = new Map<string, InstallToken>();
  private readonly macs = new Map<string, Machine>();

  constructor(private readonly max = 4096) {}

  /** The listening connection is up (true: start keeping rows afresh) or down (false: keep nothing). */
  listen(up: boolean): void {
    this.forgetAll();
    this.listening = up;
  }

  row<V>(kind: 'm' | 'p' | 's', key: string, read: () => Promise<V | undefined>): Promise<V | undefined> {
    return this.through(kind, this.rows[kind] as Map<string, V>, key, read);
  }

  token(token: string, read: () => Promise<InstallToken | undefined>): Promise<InstallToken | undefined> {
    return this.through('t', this.tokens, token, read);
  }

  currentToken(machine: string, read: () => Promise<InstallToken | undefined>): Promise<InstallToken | undefined> {
    return this.through('t', this.current, machine, read);
  }

  machineByMac(mac: string, read: () => Promise<Machine | undefined>): Promise<Machine | undefined> {
    return this.through('mac', this.macs, mac, read);
  }

  /** A NOTIFY payload (or this process's own write): 'KIND:KEY'. Anything unreadable forgets everything. */
  changed(payload: string): void {
    const at = payload.indexOf(':');
    const kind = payload.slice(0, at) as RowKind;
    const key = payload.slice(at + 1);
    if (at < 1) return this.forgetAll();
    // A read by MAC may meet any machine: a write of one spoils them all.
    for (const r of this.reading) if (r.kind === kind ? kind === 't' || r.key === key : kind === 'm' && r.kind === 'mac') r.spoiled = true;
    if (kind === 't') {
      this.current.delete(key);
      for (const [k, t] of this.tokens) if (t.machine === key) this.tokens.delete(k);
    } else if (kind in this.rows) {
      this.rows[kind as 'm' | 'p' | 's'].delete(key);
      if (kind === 'm') for (const [mac, m] of this.macs) if (m.name === key) this.macs.delete(mac);
    } else this.forgetAll();
  }

  private forgetAll(): void {
    for (const r of this.reading) r.spoiled = true;
    for (const m of [...Object.values(this.rows), this.tokens, this.current, this.macs]) m.clear();
  }

  private async through<V>(kind: RowKind | 'mac', map: Map<string, V>, key: string, read: () => Promise<V | undefined>): Promise<V | undefined> {
    const hit = map.get(key);
    if (hit !== undefined) return hit;
    const mark = { kind, key, spoiled: !this.listening };
    this.reading.add(mark);
    try {
      const v = await read();
      // Only rows that exist: made-up tokens must not fill the cache.
      if (v !== undefined && !mark.spoiled) {
        if (map.size >= this.max) map.delete(map.keys().next().value!);
        map.set(key, v);
      }
      return v;
    } finally {
      this.reading.delete(mark);
    }
  }
}
