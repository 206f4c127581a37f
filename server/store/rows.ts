import type { DiscoveryToken } from '../model/discovery.js';
import { ConflictError } from '../model/errors.js';
import type { BootEvent, StoredEvent } from '../model/events.js';
import type { Lease } from '../model/lease.js';
import type { InstallToken } from '../model/token.js';

/**
 * Rows as both stores read them back (SQLite and PostgreSQL name their columns alike) and the
 * parsing of JSON bodies: one mapping, so the two stores cannot drift apart on what a row means.
 */
export type Row = Record<string, unknown>;

export function toLease(r: Row): Lease {
  return {
    mac: r.mac as string,
    ip: r.ip as string,
    subnet: r.subnet as string,
    state: r.state as Lease['state'],
    expiresAt: r.expires_at as number,
    hostname: (r.hostname as string | null) ?? undefined,
    clientId: (r.client_id as string | null) ?? undefined,
    updatedAt: r.updated_at as number,
  };
}

/** leases.put's answer to a refused write (putMany's held leases): the address is another MAC's. */
export function refuseHeld(held: Lease[]): void {
  const h = held[0];
  if (h) throw new ConflictError(`address ${h.ip} is held by ${h.mac} (${h.state} until ${new Date(h.expiresAt).toISOString()})`, 'ip');
}

export function toToken(r: unknown): InstallToken | undefined {
  if (!r) return undefined;
  const t = r as Row;
  const token: InstallToken = { token: t.token as string, machine: t.machine as string, installId: t.install_id as string, expiresAt: t.expires_at as number };
  if (t.revoked_at != null) token.revokedAt = t.revoked_at as number;
  return Object.freeze(token);
}

export function toDiscoveryToken(r: unknown): DiscoveryToken | undefined {
  if (!r) return undefined;
  const t = r as Row;
  const token: DiscoveryToken = { token: t.token as string, mac: t.mac as string, ip: t.ip as string, expiresAt: t.expires_at as number };
  if (t.entry_id != null) token.entryId = t.entry_id as string;
  if (t.revoked_at != null) token.revokedAt = t.revoked_at as number;
  return token;
}

export function toEvent(r: Row): StoredEvent {
  const e: StoredEvent = { id: r.id as number, at: r.at as number, kind: r.kind as StoredEvent['kind'], level: r.level as StoredEvent['level'], message: r.message as string };
  if (r.machine != null) e.machine = r.machine as string;
  if (r.mac != null) e.mac = r.mac as string;
  if (r.ip != null) e.ip = r.ip as string;
  if (r.data != null) e.data = JSON.parse(r.data as string);
  if (r.instance != null) e.instance = r.instance as string;
  return e;
}

/**
 * The event with its id, time and the instance that wrote it, fields in the order
 * `{ ...e, id, at, instance }` gives. Not written as that literal: on Node 20 a spread followed by
 * more properties costs ≈ 3 µs an object (measured), against ≈ 0.1 µs for this, and every boot
 * request stores an event.
 */
export function storedEvent(e: BootEvent, id: number, at: number, instance: string | undefined): StoredEvent {
  const stored = Object.assign({}, e) as StoredEvent;
  stored.id = id;
  stored.at = at;
  if (instance !== undefined) stored.instance = instance;
  return stored;
}

function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}

/**
 * JSON bodies parsed once per distinct text. The boot path reads the same machine, profile and
 * status rows thousands of times a second; reading the text is cheap, parsing it is not. Keyed
 * by the text itself, so a changed row can never be answered from it: not a row cache, correct
 * with any number of writers. Values are shared between callers, hence frozen.
 */
export function parsedBodies(max = 2048): (text: string) => unknown {
  const cache = new Map<string, unknown>();
  return (text) => {
    let v = cache.get(text);
    if (v === undefined) {
      v = deepFreeze(JSON.parse(text));
      if (cache.size >= max) cache.delete(cache.keys().next().value!);
      cache.set(text, v);
    }
    return v;
  };
}
