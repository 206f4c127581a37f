import type { MatchExpression, Rule } from '../model/discovery.js';
import type { Problem } from '../model/errors.js';
import type { Inventory } from '../model/hardware.js';
import { printable } from '../model/text.js';
import { valuesAt } from './inventory-path.js';

/**
 * Which discovery rule a reported box falls under, and why every rule did or did not: an operator
 * looking at an unmatched box must see what it has against what each rule asked, without
 * reading the report by hand.
 */
export interface RuleVerdict {
  rule: string;
  priority: number;
  matches: boolean;
  reasons: string[];
}

/** A report is the box's word, not ours: reasons quote a few short values so it cannot flood them. */
const MAX_QUOTED = 5;
const MAX_CHARS = 64;

export function evaluateRule(rule: Rule, inv: Inventory): RuleVerdict {
  const results = rule.match.map((e) => evaluateExpression(e, inv));
  return { rule: rule.name, priority: rule.priority, matches: results.every((r) => r.holds), reasons: results.map((r) => r.reason) };
}

export function pickRule(
  rules: Rule[],
  inv: Inventory,
  acceptedThrough: (rule: string) => number,
): { rule?: Rule; verdicts: (RuleVerdict & { chosen: boolean; reasons: string[] })[] } {
  // Ties are refused at apply (priorityClash); the name order only keeps a bad store deterministic.
  const ordered = [...rules].sort((a, b) => b.priority - a.priority || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  let chosen: Rule | undefined;
  const verdicts = ordered.map((rule) => {
    const verdict = evaluateRule(rule, inv);
    const reasons = [...verdict.reasons];
    let matches = verdict.matches;
    // A full rule steps aside rather than blocking: the next rule may still place the box.
    if (rule.maxCount !== undefined && acceptedThrough(rule.name) >= rule.maxCount) {
      matches = false;
      reasons.unshift(`maxCount ${rule.maxCount} reached`);
    }
    const isChosen = matches && !chosen;
    if (isChosen) chosen = rule;
    else if (matches) reasons.unshift(`outranked by rule "${chosen!.name}" (priority ${chosen!.priority})`);
    return { ...verdict, matches, reasons, chosen: isChosen };
  });
  return { rule: chosen, verdicts };
}

/** Two rules on one priority would make the winner depend on storage order, so apply refuses them. */
export function priorityClash(rules: Rule[]): Problem | undefined {
  const seen = new Map<number, string>();
  for (const rule of rules) {
    const other = seen.get(rule.priority);
    if (other !== undefined) return { path: `rules.${rule.name}.priority`, message: `priority ${rule.priority} is also rule "${other}"; ties are refused` };
    seen.set(rule.priority, rule.name);
  }
  return undefined;
}

function evaluateExpression(e: MatchExpression, inv: Inventory): { holds: boolean; reason: string } {
  const found = valuesAt(inv, e.key);
  const fact = (relevant: (v: unknown) => boolean = () => false) => (found.length ? `${e.key} is ${quoteFound(found, relevant)}` : `${e.key} does not exist`);
  const verdict = (holds: boolean, operand: string, relevant?: (v: unknown) => boolean) => ({
    holds,
    reason: `${fact(relevant)}, ${holds ? '' : 'not '}${e.operator} ${operand}`,
  });
  switch (e.operator) {
    case 'In':
    case 'NotIn': {
      const wanted = new Set(e.values);
      const listed = (v: unknown) => {
        const s = asString(v);
        return s !== undefined && wanted.has(s);
      };
      const anyListed = found.some(listed);
      return verdict(e.operator === 'In' ? anyListed : !anyListed, quoteOperands(e.values), listed);
    }
    case 'Exists':
    case 'DoesNotExist':
      // The fact is the whole story: "does not exist" or what it is.
      return { holds: (found.length > 0) === (e.operator === 'Exists'), reason: fact() };
    case 'Gt':
    case 'Lt': {
      const bound = e.values.length === 1 ? asNumber(e.values[0]) : undefined;
      if (bound === undefined) return { holds: false, reason: `${e.operator} needs exactly one number, got ${quoteOperands(e.values)}` };
      const beyond = (v: unknown) => {
        const n = asNumber(v);
        return n !== undefined && (e.operator === 'Gt' ? n > bound : n < bound);
      };
      // The bound as the operator wrote it, so the reason reads like the rule.
      return verdict(found.some(beyond), e.values[0].trim(), beyond);
    }
  }
}

/** Kubernetes compares labels as strings; a report's numbers and booleans are compared as their JSON text. */
function asString(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return undefined;
}

/** Agents report sizes and speeds as numbers or, from some tools, as numeric strings: both count. */
function asNumber(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'string' && v.trim() !== '') {
    const n = Number(v);
    return Number.isFinite(n) ? n : undefined;
  }
  return undefined;
}

function clip(s: string): string {
  const line = printable(s);
  return line.length > MAX_CHARS ? `${line.slice(0, MAX_CHARS - 1)}…` : line;
}

function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(clip(v));
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return '{…}';
}

/** Distinct values, those that decided the expression first, so the cap never hides the reason. */
function quoteFound(values: unknown[], relevant: (v: unknown) => boolean): string {
  const shown = [...new Set([...values.filter(relevant), ...values.filter((v) => !relevant(v))].map(show))];
  const more = shown.length - MAX_QUOTED;
  return shown.slice(0, MAX_QUOTED).join(', ') + (more > 0 ? ` and ${more} more` : '');
}

function quoteOperands(values: string[]): string {
  const more = values.length - MAX_QUOTED;
  return `[${values.slice(0, MAX_QUOTED).map(clip).join(', ')}${more > 0 ? `, and ${more} more` : ''}]`;
}
