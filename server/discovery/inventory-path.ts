import type { Inventory } from '../model/hardware.js';

/**
 * The values a dotted key names in a hardware report, the one reading that rules, name templates
 * and reasons share. Through an array the walk goes on into every element, so a key over
 * `interfaces` or `disks` asks about every NIC or disk at once (matchExpressions' any-element
 * semantics); a trailing array is flattened the same way (`disks.byId` is every link).
 *
 * `X.count` on an array is its length, because "how many disks" is the question rules ask most and
 * the report has no field for it; an element's own `count` (a newer agent's fact) still wins. An
 * absent section gives no value rather than 0: a collector that found nothing leaves the section
 * out, and "unknown" must not satisfy `Lt 2`.
 *
 * Only own properties of plain objects are read, so a key like `constructor` or `toString` finds
 * nothing instead of reaching Object.prototype or a string's length.
 */
export function valuesAt(inv: Inventory, key: string): unknown[] {
  let current: unknown[] = [inv];
  for (const segment of key.split('.')) {
    const next: unknown[] = [];
    for (const value of current) {
      if (Array.isArray(value)) {
        const elements = flatten(value);
        if (segment === 'count' && !elements.some((e) => property(e, 'count') != null)) next.push(elements.length);
        else for (const e of elements) push(next, property(e, segment));
      } else push(next, property(value, segment));
    }
    current = next;
  }
  return flatten(current);
}

function property(value: unknown, name: string): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  return Object.hasOwn(value, name) ? (value as Record<string, unknown>)[name] : undefined;
}

function push(out: unknown[], value: unknown) {
  if (value !== undefined && value !== null) out.push(value);
}

/**
 * Nested arrays can only come from unknown fields, which a report may nest as deep as JSON allows:
 * flattened with an explicit stack, not recursion, so depth cannot overflow the call stack.
 */
function flatten(values: unknown[]): unknown[] {
  const out: unknown[] = [];
  const stack: unknown[] = [...values].reverse();
  while (stack.length) {
    const v = stack.pop();
    if (Array.isArray(v)) for (let i = v.length - 1; i >= 0; i--) stack.push(v[i]);
    else push(out, v);
  }
  return out;
}
