import { z } from 'zod';
import { Mac } from './primitives.js';

/**
 * The hardware report of the inventory agent (POST /boot/inventory): a stable interface, the same
 * for kickstand's agent and an operator's own. Every section is optional (a collector that finds
 * nothing leaves it out) and unknown fields are kept, so a newer agent's facts survive an older
 * server. Strings are one line of printable text: they reach event messages, the API and the
 * console.
 */
const Text = (max = 256) => z.string().max(max).regex(/^[^\x00-\x1f\x7f]*$/, 'one line of text without control characters');

export const LldpNeighbour = z.looseObject({
  chassisId: Text().optional(),
  systemName: Text().optional(),
  portId: Text().optional(),
  portDescription: Text().optional(),
});

export const HardwareDisk = z.looseObject({
  name: Text(64).describe('kernel name, e.g. sda, nvme0n1'),
  sizeBytes: z.number().int().nonnegative().optional(),
  rotational: z.boolean().optional(),
  model: Text().optional(),
  serial: Text().optional(),
  wwn: Text().optional(),
  byId: z.array(Text(1024)).max(64).optional().describe('every /dev/disk/by-id/ link to the disk'),
  byPath: Text(1024).optional().describe('its /dev/disk/by-path/ link'),
});

export const HardwareInterface = z.looseObject({
  name: Text(64),
  mac: Mac,
  speedMbps: z.number().int().nonnegative().optional(),
  carrier: z.boolean().optional(),
  pciAddress: Text(64).optional().describe('e.g. 0000:3b:00.0'),
  driver: Text(64).optional(),
  lldp: LldpNeighbour.optional(),
});

export const Inventory = z
  .looseObject({
    system: z.looseObject({ manufacturer: Text().optional(), product: Text().optional(), serial: Text().optional(), uuid: Text().optional() }).optional(),
    firmware: z
      .looseObject({ mode: z.enum(['bios', 'uefi']).optional(), vendor: Text().optional(), version: Text().optional(), secureBoot: z.boolean().optional().describe('UEFI Secure Boot on, from the SecureBoot EFI variable') })
      .optional(),
    cpu: z.looseObject({ model: Text().optional(), count: z.number().int().positive().optional(), architecture: Text(32).optional() }).optional(),
    memory: z.looseObject({ totalMiB: z.number().int().nonnegative().optional() }).optional(),
    disks: z.array(HardwareDisk).max(1024).optional(),
    interfaces: z.array(HardwareInterface).max(1024).optional(),
    bmc: z.looseObject({ address: Text(256).optional(), mac: Mac.optional() }).optional(),
    bootMac: Mac.optional().describe('the MAC the box netbooted from'),
  })
  .meta({ id: 'Inventory' });
export type Inventory = z.infer<typeof Inventory>;
export type HardwareDisk = z.infer<typeof HardwareDisk>;
export type HardwareInterface = z.infer<typeof HardwareInterface>;

/** A machine's hardware facts: its newest report, from a discovery boot or an install's %pre. */
export interface HardwareRecord {
  inventory: Inventory;
  reportedAt: number;
  source: 'discovery' | 'install';
}

/** Every MAC a report names, the boot MAC first. */
export function reportedMacs(inv: Inventory): string[] {
  const macs = [...(inv.bootMac ? [inv.bootMac] : []), ...(inv.interfaces ?? []).map((i) => i.mac)];
  return [...new Set(macs)];
}
