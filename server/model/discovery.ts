import { z } from 'zod';
import type { Inventory } from './hardware.js';
import { Ident } from './primitives.js';

/**
 * Discovery: boxes whose MACs nobody registered report their hardware, rules (Kubernetes
 * matchExpressions over the report) pick a profile and a name, and an accept turns a box into a
 * machine.
 */

export const MATCH_OPERATORS = ['In', 'NotIn', 'Exists', 'DoesNotExist', 'Gt', 'Lt'] as const;

/** A dotted path into the inventory (system.product, disks.sizeBytes, interfaces.lldp.systemName). */
export const MatchKey = z
  .string()
  .max(200)
  .regex(/^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$/, 'a dotted path into the inventory, e.g. system.product or disks.count');

export const MatchExpression = z
  .object({
    key: MatchKey,
    operator: z.enum(MATCH_OPERATORS),
    values: z.array(z.string().max(256).regex(/^[^\x00-\x1f\x7f]*$/, 'one line of text')).max(256).default([]),
  })
  .superRefine((e, ctx) => {
    const n = e.values.length;
    if ((e.operator === 'In' || e.operator === 'NotIn') && n === 0) ctx.addIssue({ code: 'custom', path: ['values'], message: `${e.operator} needs at least one value` });
    if ((e.operator === 'Exists' || e.operator === 'DoesNotExist') && n > 0) ctx.addIssue({ code: 'custom', path: ['values'], message: `${e.operator} takes no values` });
    if (e.operator === 'Gt' || e.operator === 'Lt') {
      if (n !== 1 || !Number.isFinite(Number(e.values[0])) || e.values[0].trim() === '')
        ctx.addIssue({ code: 'custom', path: ['values'], message: `${e.operator} takes exactly one number` });
    }
  });
export type MatchExpression = z.infer<typeof MatchExpression>;

/** web-{{system.serial}}: literal host-name characters and {{inventory.path}} placeholders. */
export const NameTemplate = z
  .string()
  .min(1)
  .max(253)
  .regex(/^([a-z0-9.-]|\{\{\s*[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*\s*\}\})+$/, 'host-name characters (a-z 0-9 . -) and {{inventory.path}} placeholders, e.g. web-{{system.serial}}');

export const Rule = z
  .object({
    name: Ident,
    priority: z.number().int().min(-1_000_000).max(1_000_000).default(0).describe('the highest matching priority wins; two rules may not share one'),
    match: z.array(MatchExpression).min(1).max(64).describe('every expression must hold (AND); through an array, any element may satisfy an expression'),
    profile: Ident,
    machineName: NameTemplate.default('m-{{bootMac}}').describe('template over the inventory; values are lower-cased and made host-name safe'),
    accept: z.enum(['auto', 'manual', 'reject']).default('manual').describe('auto: accepted at once; manual: matched, waiting for an operator; reject: told to power off'),
    reinstall: z.boolean().default(false).describe('reinstall the machine as soon as it is accepted'),
    maxCount: z.number().int().positive().optional().describe('accept at most this many boxes through the rule'),
  })
  .meta({ id: 'Rule' });
export type Rule = z.infer<typeof Rule>;
export type RuleInput = z.input<typeof Rule>;

export const DISCOVERED_STATES = ['new', 'matched', 'accepted', 'rejected'] as const;
export type DiscoveredState = (typeof DISCOVERED_STATES)[number];

/** A box that reported its hardware without being a machine (yet). */
export interface DiscoveredEntry {
  id: string;
  macs: string[];
  state: DiscoveredState;
  /** One line: vendor, product, CPUs, memory, disks, NICs. */
  summary: string;
  /** The rule that matched, when one did. */
  rule?: string;
  /** Why a matched box waits for an operator, or why it was rejected. */
  reason?: string;
  /** The machine it became. */
  machine?: string;
  /** The machine whose slot it takes (replacement by cabling). */
  replaces?: string;
  ip?: string;
  firstSeenAt: number;
  seenAt: number;
  inventory: Inventory;
}

/**
 * The secret of one discovery boot. Bound to the MAC and the address that got the boot script;
 * the report may be posted once, before expiry; the agent polls for its action with it after.
 */
export interface DiscoveryToken {
  token: string;
  mac: string;
  ip: string;
  expiresAt: number;
  /** The entry the report went to; set once, which is what makes the report single-use. */
  entryId?: string;
  revokedAt?: number;
}

/** What the agent is told to do after its report. */
export type DiscoveryAction = 'wait' | 'reboot' | 'poweroff';

/** One box swapped for another in a cabled slot: what changed, for the machine's history. */
export interface Replacement {
  machine: string;
  at: number;
  /** The discovered entry of the new box. */
  entry: string;
  /** The cabling that recognised the slot, role → switch port. */
  slot: Record<string, { switch: string; port: string }>;
  oldMacs: string[];
  newMacs: string[];
  oldSerial?: string;
  newSerial?: string;
}
