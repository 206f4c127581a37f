import type { Inventory } from '../model/hardware.js';
import { printable } from '../model/text.js';

/** Plain aligned columns: what an operator reads in a terminal. */
export function table(rows: Record<string, unknown>[], columns: string[]): string {
  const cell = (v: unknown) => (v === undefined || v === null ? '-' : Array.isArray(v) ? v.join(',') : String(v));
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padEnd(widths[i])).join('  ').trimEnd();
  return [line(columns.map((c) => c.toUpperCase())), ...rows.map((r) => line(columns.map((c) => cell(r[c]))))].join('\n');
}

export function progressBar(percent: number, width = 30): string {
  const full = Math.round((Math.max(0, Math.min(100, percent)) / 100) * width);
  return `[${'#'.repeat(full)}${'.'.repeat(width - full)}] ${String(percent).padStart(3)}%`;
}

/** GET /api/v1/discovered/{id}/rules: each rule's verdict on one box, highest priority first. */
export type Explanation = { rule: string; priority: number; matches: boolean; chosen: boolean; reasons: string[] }[];

/** `kickstand rule test ID`: the winner, the other matches and the misses, each with its reasons. */
export function explanation(id: string, verdicts: Explanation): string {
  if (!verdicts.length) return 'no discovery rules (write them with kickstand apply -f DIR, kind: rule)';
  const lines = verdicts.flatMap((v) => [
    `${(v.chosen ? '✓ chosen' : v.matches ? '✓ matches' : '✗').padEnd(10)} ${v.rule} (priority ${v.priority})`,
    ...v.reasons.map((r) => `    ${printable(r)}`),
  ]);
  if (!verdicts.some((v) => v.chosen)) lines.push(`no rule matches ${id}`);
  return lines.join('\n');
}

/** GET /api/v1/machines/{name}/hardware. */
export interface HardwareView {
  machine: string;
  source: string;
  reportedAt: string;
  inventory: Inventory;
}

/** `kickstand machine hardware NAME`: the report's facts an operator looks for, not its every field. */
export function hardwareSummary(hw: HardwareView): string {
  const inv = hw.inventory;
  const text = (...parts: (string | number | undefined)[]) => parts.filter((p) => p !== undefined && p !== '').map((p) => printable(String(p))).join(', ');
  const facts: [string, string][] = [
    ['system', text([inv.system?.manufacturer, inv.system?.product].filter(Boolean).join(' '), inv.system?.serial && `serial ${inv.system.serial}`, inv.system?.uuid && `uuid ${inv.system.uuid}`)],
    ['firmware', text(inv.firmware?.mode, [inv.firmware?.vendor, inv.firmware?.version].filter(Boolean).join(' '))],
    ['cpu', text(inv.cpu?.count === undefined ? inv.cpu?.model : inv.cpu.model ? `${inv.cpu.count} × ${inv.cpu.model}` : `${inv.cpu.count} ${inv.cpu.count === 1 ? 'CPU' : 'CPUs'}`, inv.cpu?.architecture)],
    ['memory', inv.memory?.totalMiB !== undefined ? (inv.memory.totalMiB >= 1024 ? `${Math.round(inv.memory.totalMiB / 1024)} GiB` : `${inv.memory.totalMiB} MiB`) : ''],
    ['bmc', text(inv.bmc?.address, inv.bmc?.mac)],
    ['boot MAC', text(inv.bootMac)],
  ];
  const lines = [`${hw.machine}: hardware from ${hw.source}, reported ${hw.reportedAt}`, ...facts.filter(([, v]) => v).map(([k, v]) => `  ${k.padEnd(9)} ${v}`)];
  const indent = (s: string) => s.split('\n').map((l) => `    ${l}`);
  if (inv.disks?.length) {
    const rows = inv.disks.map((d) => ({
      name: printable(d.name),
      size: d.sizeBytes !== undefined ? decimalSize(d.sizeBytes) : undefined,
      type: d.rotational === undefined ? undefined : d.rotational ? 'hdd' : 'ssd',
      model: d.model && printable(d.model),
      serial: d.serial && printable(d.serial),
      byPath: d.byPath && printable(d.byPath),
    }));
    lines.push(`  disks (${rows.length})`, ...indent(table(rows, ['name', 'size', 'type', 'model', 'serial', 'byPath'])));
  }
  if (inv.interfaces?.length) {
    const rows = inv.interfaces.map((i) => ({
      name: printable(i.name),
      mac: i.mac,
      speed: i.speedMbps !== undefined ? `${i.speedMbps} Mb/s` : undefined,
      carrier: i.carrier === undefined ? undefined : i.carrier ? 'up' : 'down',
      lldp: i.lldp && (text(i.lldp.systemName, i.lldp.portId) || undefined),
    }));
    lines.push(`  interfaces (${rows.length})`, ...indent(table(rows, ['name', 'mac', 'speed', 'carrier', 'lldp'])));
  }
  return lines.join('\n');
}

/** Disk sizes as vendors sell them (decimal). */
function decimalSize(bytes: number): string {
  if (bytes >= 1e12) return `${Number((bytes / 1e12).toFixed(1))} TB`;
  if (bytes >= 1e9) return `${Math.round(bytes / 1e9)} GB`;
  return `${Math.round(bytes / 1e6)} MB`;
}
