import type { Inventory } from '../model/hardware.js';
import { Hostname } from '../model/primitives.js';
import { printable } from '../model/text.js';
import { valuesAt } from './inventory-path.js';

const PLACEHOLDER = /\{\{\s*([A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)*)\s*\}\}/g;

/**
 * The name a discovered box gets from its rule's template (web-{{system.serial}}). Report values
 * are free text ("PowerEdge R640", "52:54:00:12:34:56"), so each is folded into host-name
 * characters; a value that is missing or folds to nothing is an error rather than a name with a
 * hole in it, because two boxes would then collide on the same name.
 */
export function machineName(template: string, inv: Inventory): { name: string } | { error: string } {
  let error: string | undefined;
  const name = template.replace(PLACEHOLDER, (_, key: string) => {
    if (error) return '';
    // The first scalar: a key over an array (interfaces.mac) names the first element's value.
    const raw = valuesAt(inv, key).find((v) => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean');
    const text = raw === undefined ? '' : String(raw);
    if (text.trim() === '') {
      error = `machineName: {{${key}}} has no value in this report`;
      return '';
    }
    const safe = text
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '');
    if (!safe) error = `machineName: {{${key}}} is ${JSON.stringify(clip(text))}, which keeps no host-name characters`;
    return safe;
  });
  if (error) return { error };
  if (!Hostname.safeParse(name).success) return { error: `machineName: ${JSON.stringify(clip(name))} ${whyNotHostname(name)}` };
  return { name };
}

function whyNotHostname(name: string): string {
  if (name.length > 253) return `is ${name.length} characters; a host name has at most 253`;
  const long = name.split('.').find((label) => label.length > 63);
  if (long) return `has a label of ${long.length} characters; a host-name label has at most 63`;
  return 'is not an RFC 1123 host name (dot-separated labels of a-z, 0-9 and inner hyphens)';
}

function clip(s: string): string {
  const line = printable(s);
  return line.length > 64 ? `${line.slice(0, 63)}…` : line;
}
