import type { Inventory } from '../model/hardware.js';
import type { Machine } from '../model/machine.js';

type Cabling = Machine['cabling'];

/**
 * Which NIC of a reported box sits in each cabled port of a slot (role → MAC), or undefined
 * when the box is not in that slot. Every cabled role must be found, each on its own NIC: a
 * box with one cable in the slot's port and the other elsewhere is miscabled, not this machine.
 * A switch is named by its LLDP system name or chassis id, a port by its id or description,
 * as switches differ in what they fill in.
 */
export function slotMatch(cabling: Cabling, inv: Inventory): Record<string, string> | undefined {
  const wanted = Object.entries(cabling);
  if (!wanted.length) return undefined;
  const nics = (inv.interfaces ?? []).filter((i) => i.lldp);
  const roles: Record<string, string> = {};
  const used = new Set<string>();
  for (const [role, port] of wanted) {
    const nic = nics.find((i) => !used.has(i.mac) && heard(i.lldp!, port));
    if (!nic) return undefined;
    roles[role] = nic.mac;
    used.add(nic.mac);
  }
  return roles;
}

/** The cabled roles whose LLDP neighbour says otherwise, for a machine's own install report. */
export function miscabled(cabling: Cabling, nics: Record<string, string>, inv: Inventory): string[] {
  const out: string[] = [];
  for (const [role, port] of Object.entries(cabling)) {
    const lldp = (inv.interfaces ?? []).find((i) => i.mac === nics[role])?.lldp;
    if (lldp && !heard(lldp, port))
      out.push(`${role} is on ${lldp.systemName ?? lldp.chassisId ?? '?'} ${lldp.portId ?? lldp.portDescription ?? '?'}, cabling says ${port.switch} ${port.port}`);
  }
  return out;
}

function heard(lldp: NonNullable<NonNullable<Inventory['interfaces']>[number]['lldp']>, port: { switch: string; port: string }): boolean {
  const is = (a: string | undefined, b: string) => a !== undefined && a.trim() === b.trim();
  return (is(lldp.systemName, port.switch) || is(lldp.chassisId, port.switch)) && (is(lldp.portId, port.port) || is(lldp.portDescription, port.port));
}
