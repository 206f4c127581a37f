import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { z } from 'zod';
import { Rule } from '../model/discovery.js';
import { Machine } from '../model/machine.js';
import { Profile } from '../model/profile.js';

export interface Inventory {
  machines: Machine[];
  profiles: Profile[];
  /** Discovery rules: which profile and name a reporting box gets. */
  rules: Rule[];
}

/** A refused inventory file: names the file, the document and the field. */
export class InventoryError extends Error {
  constructor(readonly problems: string[]) {
    super(`inventory refused:\n  ${problems.join('\n  ')}`);
  }
}

export function formatIssues(prefix: string, error: z.ZodError): string[] {
  return error.issues.map((i) => `${prefix}${i.path.length ? ` ${i.path.join('.')}` : ''}: ${i.message}`);
}

async function yamlFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const out: string[] = [];
  for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const path = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await yamlFiles(path)));
    else if (/\.ya?ml$/.test(e.name)) out.push(path);
  }
  return out;
}

const SCHEMAS = { machine: Machine, profile: Profile, rule: Rule } as const;

/**
 * Reads every YAML document under dir (recursively). Each document has `kind: machine`,
 * `kind: profile` or `kind: rule`; all problems are collected so an operator fixes a directory
 * in one pass.
 */
export async function loadInventory(dir: string): Promise<Inventory> {
  const inv: Inventory = { machines: [], profiles: [], rules: [] };
  const problems: string[] = [];
  /** Where each rule came from, to name both files of a priority tie. */
  const ruleFiles = new Map<Rule, string>();
  for (const file of await yamlFiles(dir)) {
    const docs = parseAllDocuments(await readFile(file, 'utf8'));
    docs.forEach((doc, n) => {
      const where = docs.length > 1 ? `${file}#${n + 1}` : file;
      if (doc.errors.length) {
        problems.push(...doc.errors.map((e) => `${where}: ${e.message}`));
        return;
      }
      const value = doc.toJS() as Record<string, unknown> | null;
      if (value === null) return;
      const { kind, ...body } = value;
      if (kind !== 'machine' && kind !== 'profile' && kind !== 'rule') {
        problems.push(`${where} kind: must be "machine", "profile" or "rule"`);
        return;
      }
      const parsed = SCHEMAS[kind].safeParse(body);
      if (!parsed.success) problems.push(...formatIssues(where, parsed.error));
      else if (kind === 'machine') inv.machines.push(parsed.data as Machine);
      else if (kind === 'profile') inv.profiles.push(parsed.data as Profile);
      else {
        inv.rules.push(parsed.data as Rule);
        ruleFiles.set(parsed.data as Rule, where);
      }
    });
  }
  for (const m of inv.machines)
    if (!inv.profiles.some((p) => p.name === m.profile) ) problems.push(`machine ${m.name} profile: no profile named "${m.profile}" in ${dir}`);
  for (const r of inv.rules)
    if (!inv.profiles.some((p) => p.name === r.profile)) problems.push(`rule ${r.name} profile: no profile named "${r.profile}" in ${dir}`);
  // The winner of two matching rules on one priority would depend on order: every tie is named.
  const byPriority = new Map<number, Rule>();
  for (const r of inv.rules) {
    const other = byPriority.get(r.priority);
    if (other) problems.push(`rule ${r.name} priority: ${r.priority} is also rule "${other.name}" (${ruleFiles.get(other)}, and this one in ${ruleFiles.get(r)}); ties are refused`);
    else byPriority.set(r.priority, r);
  }
  if (problems.length) throw new InventoryError(problems);
  return inv;
}
