import type { DiscoveredEntry } from '../model/discovery.js';
import type { Inventory } from '../model/hardware.js';
import { canonicalMac } from '../model/primitives.js';

/**
 * Placeholders firmware ships in the SMBIOS serial and UUID fields when the vendor never set
 * them. Thousands of boxes share each, so matching on one would merge unrelated machines into a
 * single discovered entry.
 */
const JUNK = new Set([
  '',
  'to be filled by o.e.m.',
  'to be filled by oem',
  'default string',
  'not specified',
  'not applicable',
  'not available',
  'system serial number',
  'chassis serial number',
  'none',
  'n/a',
  'unknown',
  '0',
  '123456789',
  '0123456789',
  // AMI's stock UUID, seen on many Supermicro and white-box boards.
  '03000200-0400-0500-0006-000700080009',
]);

/** Also refuses runs of one character (00000000, XXXXXXXX), another common stand-in. */
export function usableSerial(s: string | undefined): boolean {
  if (s === undefined) return false;
  const v = s.trim().toLowerCase();
  return !JUNK.has(v) && !/^(.)\1*$/s.test(v);
}

/** Hyphens do not count, so 00000000-0000-… and FFFFFFFF-FFFF-… are the repeated-character case. */
export function usableUuid(u: string | undefined): boolean {
  if (u === undefined) return false;
  const v = u.trim().toLowerCase();
  const digits = v.replace(/-/g, '');
  return !JUNK.has(v) && digits !== '' && !/^(.)\1*$/s.test(digits);
}

/** What identifies a box beyond its MACs, junk left out (UUIDs compare case-insensitively). */
export function fingerprint(inv: Inventory): { serial?: string; uuid?: string } {
  const serial = inv.system?.serial;
  const uuid = inv.system?.uuid;
  return {
    ...(usableSerial(serial) ? { serial: serial!.trim() } : {}),
    ...(usableUuid(uuid) ? { uuid: uuid!.trim().toLowerCase() } : {}),
  };
}

/**
 * The entry a reporting box already has. A shared MAC is the strongest sign (the box netbooted
 * from it); serial and UUID catch a box whose NICs were swapped or which booted from another port.
 * Each signal is tried over all entries before the next, so a MAC match is never shadowed by an
 * earlier entry that merely shares a serial.
 */
export function findEntry(entries: DiscoveredEntry[], inv: Inventory, macs: string[]): DiscoveredEntry | undefined {
  const wanted = new Set(macs.map((m) => canonicalMac(m) ?? m));
  const byMac = entries.find((e) => e.macs.some((m) => wanted.has(canonicalMac(m) ?? m)));
  if (byMac) return byMac;
  const { serial, uuid } = fingerprint(inv);
  if (serial !== undefined) {
    const bySerial = entries.find((e) => fingerprint(e.inventory).serial === serial);
    if (bySerial) return bySerial;
  }
  if (uuid !== undefined) return entries.find((e) => fingerprint(e.inventory).uuid === uuid);
  return undefined;
}
