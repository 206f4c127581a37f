import type { Inventory } from '../model/hardware.js';
import { printable } from '../model/text.js';

const MAX = 200;
const SHOWN_DISKS = 4;

/**
 * One line that tells boxes apart in a list of discovered entries: what it is, how big, how it
 * booted. Sizes read like the labels on the hardware (disks in decimal GB/TB as vendors sell them,
 * memory in GiB as the OS shows it). The line is bounded since product strings come from the box.
 */
export function summarize(inv: Inventory): string {
  const parts: string[] = [];
  const model = [inv.system?.manufacturer, inv.system?.product].map((s) => s?.trim()).filter((s) => s);
  if (model.length) parts.push(model.map((s) => clip(s!, 40)).join(' '));
  const cpus = inv.cpu?.count;
  const arch = inv.cpu?.architecture?.trim();
  const cpu = [cpus !== undefined ? `${cpus} ${cpus === 1 ? 'CPU' : 'CPUs'}` : '', arch ? clip(arch, 16) : ''].filter((s) => s).join(' ');
  if (cpu) parts.push(cpu);
  const mib = inv.memory?.totalMiB;
  if (mib !== undefined) parts.push(mib >= 1024 ? `${Math.round(mib / 1024)} GiB` : `${mib} MiB`);
  if (inv.disks) {
    const n = inv.disks.length;
    const sizes = inv.disks.map((d) => (d.sizeBytes !== undefined ? decimalSize(d.sizeBytes) : '?'));
    const shown = sizes.some((s) => s !== '?') ? ` (${sizes.slice(0, SHOWN_DISKS).join(', ')}${n > SHOWN_DISKS ? ', …' : ''})` : '';
    parts.push(`${n} ${n === 1 ? 'disk' : 'disks'}${shown}`);
  }
  if (inv.interfaces) parts.push(`${inv.interfaces.length} ${inv.interfaces.length === 1 ? 'NIC' : 'NICs'}`);
  if (inv.firmware?.mode) parts.push(inv.firmware.mode);
  const line = parts.join(' · ') || 'no hardware facts';
  return line.length > MAX ? `${line.slice(0, MAX - 1)}…` : line;
}

function decimalSize(bytes: number): string {
  if (bytes >= 1e12) return `${Number((bytes / 1e12).toFixed(1))} TB`;
  if (bytes >= 1e9) return `${Math.round(bytes / 1e9)} GB`;
  return `${Math.round(bytes / 1e6)} MB`;
}

function clip(s: string, max: number): string {
  const line = printable(s);
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}
