import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { z } from 'zod';
import { Machine } from '../model/machine.js';
import { Profile } from '../model/profile.js';

export interface Inventory {
  machines: Machine[];
  profiles: Profile[];
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

/**
 * Reads every YAML document under dir (recursively). Each document has `kind: machine` or
 * `kind: profile`; all problems are collected so an operator fixes a directory in one pass.
 */
export async function loadInventory(dir: string): Promise<Inventory> {
  const inv: Inventory = { machines: [], profiles: [] };
  const problems: string[] = [];
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
      const schema = kind === 'machine' ? Machine : kind === 'profile' ? Profile : undefined;
      if (!schema) {
        problems.push(`${where} kind: must be "machine" or "profile"`);
        return;
      }
      const parsed = schema.safeParse(body);
      if (!parsed.success) problems.push(...formatIssues(where, parsed.error));
      else if (kind === 'machine') inv.machines.push(parsed.data as Machine);
      else inv.profiles.push(parsed.data as Profile);
    });
  }
  for (const m of inv.machines)
    if (!inv.profiles.some((p) => p.name === m.profile) ) problems.push(`machine ${m.name} profile: no profile named "${m.profile}" in ${dir}`);
  if (problems.length) throw new InventoryError(problems);
  return inv;
}
