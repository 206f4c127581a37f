import { randomBytes } from 'node:crypto';
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
 *
 * A row this process writes is forgotten here when the write settles (wrote()), and a status it
 * committed is kept as written: the lifecycle reads it again on the machine's next request, and
 * before, every state change cost every instance, the writer too, a read (13.5 per machine in a
 * boot storm). So that its own notification, heard later, does not forget that row again, this
 * process signs its payloads ('TAG KIND:KEY') and ignores its own; a write of the row by anyone
 * else heard while the write was under way spoils it (the committed row may already be older),
 * as a write spoils a read.
 */
export class SharedCache {
  /** This process's signature on the notifications of its writes. */
  readonly tag = randomBytes(9).toString('base64url');
  /** Reads and writes under way; a write of their row by another (any token, for token reads) spoils them. */
  private readonly reading = new Set<Mark>();
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

  /**
   * A NOTIFY payload: 'TAG KIND:KEY' (or 'KIND:KEY', unsigned). Its own writes this process
   * forgets (and keeps) when they settle. Anything unreadable forgets everything.
   */
  changed(payload: string): void {
    const space = payload.indexOf(' ');
    if (space >= 0 && payload.slice(0, space) === this.tag) return;
    this.forget(payload.slice(space + 1));
  }

  /** A write of a row kept here is about to be sent: what another's write of it heard meanwhile spoils. */
  writing(payload: string): Mark {
    const at = payload.indexOf(':');
    const mark = { kind: payload.slice(0, at) as RowKind, key: payload.slice(at + 1), spoiled: !this.listening };
    this.reading.add(mark);
    return mark;
  }

  /**
   * A write by this process settled, committed or not: its row is forgotten here (and reads that
   * raced it are spoiled). `value`, the row as it committed, is kept unless `mark` was spoiled.
   */
  wrote(payload: string, mark?: Mark, value?: unknown): void {
    if (mark) this.reading.delete(mark);
    this.forget(payload);
    if (mark && value !== undefined && !mark.spoiled && mark.kind in this.rows) this.keep(this.rows[mark.kind as 'm' | 'p' | 's'], mark.key, value);
  }

  private forget(payload: string): void {
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
      if (v !== undefined && !mark.spoiled) this.keep(map, key, v);
      return v;
    } finally {
      this.reading.delete(mark);
    }
  }

  private keep<V>(map: Map<string, V>, key: string, v: V): void {
    if (map.size >= this.max) map.delete(map.keys().next().value!);
    map.set(key, v);
  }
}

/** A read or write of a kept row under way, and whether another's write of the row was heard meanwhile. */
export interface Mark {
  kind: RowKind | 'mac';
  key: string;
  spoiled: boolean;
}
