import { isDeepStrictEqual } from 'node:util';
import type { Lifecycle } from '../lifecycle/lifecycle.js';
import type { Rule } from '../model/discovery.js';
import { ConflictError, InventoryRefused } from '../model/errors.js';
import type { BootEvent } from '../model/events.js';
import type { Machine } from '../model/machine.js';
import type { Profile } from '../model/profile.js';
import type { Reads } from '../reads/reads.js';
import type { Repos, Store } from '../store/store.js';
import type { Inventory } from './load.js';

/** Transactions that check the rules (priorities, profiles in use) before they write: one at a time. */
const RULES = { exclusive: 'rules' };

export type Lint = {
  profile?: (p: Profile) => { path: string; message: string }[];
  machine?: (m: Machine, p: Profile) => { path: string; message: string }[];
};

export type Action = 'create' | 'update' | 'unchanged' | 'delete';
export interface PlanItem {
  kind: 'profile' | 'machine' | 'rule';
  name: string;
  action: Action;
}

/**
 * Every inventory write (API, `apply`, start-up load) goes through here, so the same checks
 * hold whichever door a machine comes in by: profile references, MAC ownership, semantic lint.
 */
export class InventoryService {
  constructor(
    private readonly store: Store,
    private readonly reads: Reads,
    private readonly lifecycle: Lifecycle,
    private readonly lint: Lint = {},
  ) {}

  async putProfile(p: Profile): Promise<Action> {
    const problems = this.lint.profile?.(p) ?? [];
    if (problems.length) throw new InventoryRefused(problems);
    const before = await this.reads.profile(p.name);
    if (before && isDeepStrictEqual(before, p)) return 'unchanged';
    // A profile change must keep every machine that uses it renderable.
    if (before && this.lint.machine)
      for (const m of (await this.reads.machines()).filter((m) => m.profile === p.name)) {
        const issues = this.lint.machine(m, p);
        if (issues.length) throw new InventoryRefused(issues.map((i) => ({ path: i.path, message: `machine ${m.name}: ${i.message}` })));
      }
    await this.store.profiles.put(p);
    return before ? 'update' : 'create';
  }

  /** `alsoWrite` commits with the machine (an accepted discovery: its hardware and entry). */
  async putMachine(m: Machine, alsoWrite?: (tx: Repos) => Promise<void>): Promise<Action> {
    await this.check(m);
    const before = await this.reads.machine(m.name);
    if (before && isDeepStrictEqual(before, m) && !alsoWrite) return 'unchanged';
    await this.lifecycle.register(m.name, async (tx) => {
      await tx.machines.put(m);
      await alsoWrite?.(tx);
    });
    return before ? 'update' : 'create';
  }

  /**
   * A new box in a machine's cabled slot (discovery): the machine with the box's MACs, checked
   * like any machine write, committed with `alsoWrite`, the host keys cleared and `event`.
   */
  async replaceBox(m: Machine, alsoWrite: (tx: Repos) => Promise<void>, event: BootEvent): Promise<void> {
    await this.check(m);
    await this.lifecycle.replaceBox(
      m.name,
      async (tx) => {
        await tx.machines.put(m);
        await alsoWrite(tx);
      },
      event,
    );
  }

  /** The profile reference and the semantic lint, for every door a machine comes in by. */
  private async check(m: Machine): Promise<void> {
    const profile = await this.reads.profile(m.profile);
    if (!profile) throw new InventoryRefused([{ path: 'profile', message: `no profile named "${m.profile}"` }]);
    const problems = this.lint.machine?.(m, profile) ?? [];
    if (problems.length) throw new InventoryRefused(problems);
  }

  deleteMachine(name: string): Promise<boolean> {
    return this.lifecycle.remove(name, (tx) => tx.machines.delete(name));
  }

  /** Refused (ConflictError) while a machine (the store's check) or a discovery rule uses it. */
  deleteProfile(name: string): Promise<boolean> {
    return this.store.transaction(async (tx) => {
      const users = (await tx.rules.list()).filter((r) => r.profile === name).map((r) => r.name);
      if (users.length) throw new ConflictError(`profile ${name} is used by rule(s) ${users.join(', ')}`, 'name');
      return tx.profiles.delete(name);
    }, RULES);
  }

  /** Discovery rules, highest priority first. */
  rules(): Promise<Rule[]> {
    return this.store.rules.list();
  }

  rule(name: string): Promise<Rule | undefined> {
    return this.store.rules.get(name);
  }

  /**
   * Creates or replaces a discovery rule. Refused when its profile does not exist
   * (InventoryRefused, `profile`) or another rule has its priority (ConflictError, `priority`,
   * naming that rule): the winner of a tie would depend on storage order. The checks and the
   * write are one transaction, so two concurrent writes cannot both take a priority.
   */
  putRule(r: Rule): Promise<Action> {
    return this.store.transaction(async (tx) => {
      if (!(await tx.profiles.get(r.profile))) throw new InventoryRefused([{ path: 'profile', message: `no profile named "${r.profile}"` }]);
      const stored = await tx.rules.list();
      const other = stored.find((o) => o.name !== r.name && o.priority === r.priority);
      if (other) throw new ConflictError(`priority ${r.priority} is also rule "${other.name}"; ties are refused`, 'priority');
      const before = stored.find((o) => o.name === r.name);
      if (before && isDeepStrictEqual(before, r)) return 'unchanged';
      await tx.rules.put(r);
      return before ? 'update' : 'create';
    }, RULES);
  }

  deleteRule(name: string): Promise<boolean> {
    return this.store.rules.delete(name);
  }

  /** What apply would do: create / update / unchanged, and delete only with prune. */
  async plan(desired: Inventory, prune: boolean): Promise<PlanItem[]> {
    const items: PlanItem[] = [];
    const diff = async <T extends { name: string }>(kind: PlanItem['kind'], want: T[], have: T[]) => {
      const byName = new Map(have.map((h) => [h.name, h]));
      for (const w of want) {
        const h = byName.get(w.name);
        items.push({ kind, name: w.name, action: !h ? 'create' : isDeepStrictEqual(h, w) ? 'unchanged' : 'update' });
      }
      if (prune) for (const h of have) if (!want.some((w) => w.name === h.name)) items.push({ kind, name: h.name, action: 'delete' });
    };
    await diff('profile', desired.profiles, await this.reads.profiles());
    await diff('machine', desired.machines, await this.reads.machines());
    const storedRules = await this.store.rules.list();
    await diff('rule', desired.rules, storedRules);
    // The rules as they will be after the apply, against the profiles as they will be.
    const kept = <T extends { name: string }>(want: T[], have: T[]) => (prune ? [] : have.filter((h) => !want.some((w) => w.name === h.name)));
    const profilesAfter = new Set([...desired.profiles, ...kept(desired.profiles, await this.reads.profiles())].map((p) => p.name));
    const ruleProblems = [
      ...duplicateNames(desired.rules),
      ...desired.rules.filter((r) => !profilesAfter.has(r.profile)).map((r) => ({ path: `rule ${r.name}: profile`, message: `no profile named "${r.profile}"` })),
    ];
    if (ruleProblems.length) throw new InventoryRefused(ruleProblems);
    checkTies(desired.rules, kept(desired.rules, storedRules));
    return items;
  }

  /**
   * Applies in dependency order: profiles, then machines, then rules, then deletions (machines
   * before the profiles they use). Stops at the first refusal and names it. The rules (writes and
   * pruning deletions) commit in one transaction, checked for ties as they will stand after it: a
   * swap of two rules' priorities is never seen half done.
   */
  async apply(desired: Inventory, prune: boolean): Promise<PlanItem[]> {
    const plan = await this.plan(desired, prune);
    const named = async (kind: string, name: string, fn: () => Promise<unknown>) => {
      try {
        await fn();
      } catch (err) {
        if (err instanceof InventoryRefused) throw new InventoryRefused(err.issues.map((i) => ({ path: `${kind} ${name}: ${i.path}`, message: i.message })));
        throw err;
      }
    };
    for (const p of desired.profiles) await named('profile', p.name, () => this.putProfile(p));
    for (const m of desired.machines) await named('machine', m.name, () => this.putMachine(m));
    const goneRules = new Set(plan.filter((i) => i.action === 'delete' && i.kind === 'rule').map((i) => i.name));
    if (desired.rules.length || goneRules.size)
      await this.store.transaction(async (tx) => {
        // Checked again inside the transaction: a rule written since the plan counts too.
        const stored = await tx.rules.list();
        checkTies(desired.rules, stored.filter((s) => !goneRules.has(s.name) && !desired.rules.some((r) => r.name === s.name)));
        for (const r of desired.rules) {
          if (!(await tx.profiles.get(r.profile))) throw new InventoryRefused([{ path: `rule ${r.name}: profile`, message: `no profile named "${r.profile}"` }]);
          const before = stored.find((s) => s.name === r.name);
          if (!before || !isDeepStrictEqual(before, r)) await tx.rules.put(r);
        }
        for (const name of goneRules) await tx.rules.delete(name);
      }, RULES);
    for (const item of plan.filter((i) => i.action === 'delete' && i.kind === 'machine')) await this.deleteMachine(item.name);
    for (const item of plan.filter((i) => i.action === 'delete' && i.kind === 'profile')) await this.deleteProfile(item.name);
    return plan;
  }
}

function duplicateNames(rules: Rule[]): { path: string; message: string }[] {
  const names = rules.map((r) => r.name);
  return [...new Set(names.filter((n, i) => names.indexOf(n) !== i))].map((n) => ({ path: `rule ${n}: name`, message: 'appears more than once' }));
}

/**
 * Two rules on one priority are refused (ConflictError naming both): `desired` against each
 * other and against `kept`, the stored rules the apply leaves in place.
 */
function checkTies(desired: Rule[], kept: Rule[]): void {
  const seen = new Map<number, { name: string; stored: boolean }>();
  for (const rule of kept) if (!seen.has(rule.priority)) seen.set(rule.priority, { name: rule.name, stored: true });
  for (const rule of desired) {
    const other = seen.get(rule.priority);
    if (other)
      throw new ConflictError(
        `rule ${rule.name}: priority ${rule.priority} is also rule "${other.name}"${other.stored ? ' (stored, not in this apply; prune deletes it)' : ''}; ties are refused`,
        `rule ${rule.name}: priority`,
      );
    seen.set(rule.priority, { name: rule.name, stored: false });
  }
}
