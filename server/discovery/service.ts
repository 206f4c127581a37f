import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { InventoryService } from '../inventory/service.js';
import type { EventLog } from '../lifecycle/event-log.js';
import type { Installs } from '../lifecycle/install.js';
import type { Lifecycle } from '../lifecycle/lifecycle.js';
import { KeyedLock } from '../lifecycle/locks.js';
import { type Clock, systemClock } from '../model/clock.js';
import type { DiscoveredEntry, DiscoveryAction, DiscoveryToken, Replacement } from '../model/discovery.js';
import { ConflictError, InventoryRefused, LifecycleError, Misfit, type Problem } from '../model/errors.js';
import { Inventory, reportedMacs, type HardwareRecord } from '../model/hardware.js';
import { bmcAddressProblem, Machine, nicMap } from '../model/machine.js';
import { RESTING } from '../model/status.js';
import type { Reads } from '../reads/reads.js';
import type { Store } from '../store/store.js';
import { miscabled, slotMatch } from './cabling.js';
import { assignNics, checkFit } from './fit.js';
import { findEntry } from './identify.js';
import { machineName } from './machine-name.js';
import { pickRule, type RuleVerdict } from './rules.js';
import { summarize } from './summary.js';

/** The accept body: the machine's own fields; MACs and NIC roles default to what the box reported. */
export const AcceptBody = z
  .looseObject({
    name: z.string().optional().describe('the new machine name; leave out (empty body) to carry out the replacement of the machine the box is cabled for'),
    profile: z.string().optional(),
    reinstall: z.boolean().default(false).describe('reinstall it at once; the box is told to reboot into its install'),
  })
  .describe('any other machine field (ipv4, bmc, params, ssh, nics, macs) is taken as given')
  .meta({ id: 'AcceptDiscovered' });
export type AcceptBody = z.infer<typeof AcceptBody>;

export type Refusal = { ok: false; status: 400 | 403 | 409 | 410 | 503; reason: string; issues?: Problem[] };
export type ReportOutcome = { ok: true; entry?: DiscoveredEntry; machine?: string; action: DiscoveryAction } | Refusal;
/** A report whose takeover waits for the old box to be probed, outside the lock. */
type Intake = ReportOutcome | { ok: true; entry: DiscoveredEntry; action: DiscoveryAction; probe: Machine };

export interface DiscoveryDeps {
  store: Store;
  reads: Reads;
  lifecycle: Lifecycle;
  installs: Installs;
  inventory: InventoryService;
  events: EventLog;
  settings: { tokenTtlSeconds: number; maxEntries: number; replaceQuietSeconds: number };
  /** DHCP on: a discovery token goes only to the address the MAC took from kickstand. */
  dhcp: boolean;
  /** Where a machine's installed box still answers (SSH with its pinned host key), if it does. */
  alive?: (machine: Machine) => Promise<string | undefined>;
  clock?: Clock;
}

const refuse = (status: Refusal['status'], reason: string, issues?: Problem[]): Refusal => ({ ok: false, status, reason, ...(issues ? { issues } : {}) });

/**
 * Discovery: unknown boxes boot the inventory agent with a per-boot token, report their
 * hardware, are recognised when they come back, matched by rules, and accepted as machines once
 * their profile fits what they reported. An install's own %pre report goes through here too: it
 * refreshes the machine's hardware and stops an install whose profile does not fit.
 */
export class Discovery {
  private readonly clock: Clock;
  /** Identifying a box and creating its entry reads the whole list: one report at a time. */
  private readonly entries = new KeyedLock();

  constructor(private readonly deps: DiscoveryDeps) {
    this.clock = deps.clock ?? systemClock;
  }

  // ── machine side ────────────────────────────────────────────────────────────────────────────

  /**
   * A fresh discovery token for an unknown MAC whose iPXE script is asked for from `ip`, or why it
   * is withheld: with DHCP on, only the address the MAC took from kickstand gets one; without,
   * the first address to ask keeps it until it reports or expires.
   */
  async bootToken(mac: string, ip: string): Promise<{ token?: string; withheld?: string }> {
    const now = this.clock.now();
    if (this.deps.dhcp) {
      const allowed = await this.deps.reads.dhcpAddressOf(mac);
      if (allowed !== ip) return { withheld: allowed ? 'not the address this MAC took in DHCP' : 'no DHCP exchange with kickstand from this MAC yet' };
    }
    const t: DiscoveryToken = { token: `d${randomBytes(24).toString('base64url')}`, mac, ip, expiresAt: now + this.deps.settings.tokenTtlSeconds * 1000 };
    return this.entries.run(`token ${mac}`, async () => {
      if (!this.deps.dhcp) {
        const held = await this.heldBy(mac, now);
        if (held && held !== ip) return { withheld: 'the discovery token of this MAC went to another address' };
      }
      await this.deps.store.discoveryTokens.put(t);
      return { token: t.token };
    });
  }

  /** The discovery kickstart is fetched with the token, from the address it was handed to. */
  async checkKickstart(token: string, ip: string): Promise<{ ok: true; token: DiscoveryToken } | Refusal> {
    const t = await this.deps.store.discoveryTokens.get(token);
    const why = this.refusal(t, ip, 'fetch');
    return why ?? { ok: true, token: t! };
  }

  /**
   * POST /boot/inventory: a discovery boot's report (its token, once) or an install's own (the
   * install token, from the installer's address).
   */
  async report(token: string, ip: string, body: string): Promise<ReportOutcome> {
    const t = await this.deps.store.discoveryTokens.get(token);
    if (!t) return this.installReport(token, ip, body);
    const why = this.refusal(t, ip, 'report');
    if (why) {
      this.deps.events.report({ mac: t.mac, ip, kind: 'inventory', level: 'warn', message: `hardware report refused: ${why.reason}` });
      return why;
    }
    const parsed = parseReport(body);
    if (!parsed.ok) return parsed;
    // The MAC the box netbooted from is the one kickstand saw, whatever the report says.
    const inv: Inventory = { ...parsed.inventory, bootMac: t.mac };
    const first = await this.entries.run('entries', async (): Promise<Intake> => {
      // Checked again in turn: two copies of one report (a client retrying a slow answer) must
      // not both be taken, the second undoing what the first decided.
      const fresh = await this.deps.store.discoveryTokens.get(token);
      return this.refusal(fresh, ip, 'report') ?? this.intake(fresh!, inv, ip);
    });
    if (!('probe' in first)) return first;
    const up = await this.deps.alive!(first.probe);
    return this.entries.run('entries', () => this.settle(first.entry.id, first.probe.name, up));
  }

  /** GET /boot/discovery: what the agent does next. */
  async action(token: string, ip: string): Promise<{ ok: true; action: DiscoveryAction } | Refusal> {
    const t = await this.deps.store.discoveryTokens.get(token);
    const why = this.refusal(t, ip, 'poll');
    if (why) return why;
    const entry = await this.deps.store.discovered.get(t!.entryId!);
    if (!entry) return refuse(410, 'this box was deleted from the discovered list: boot again');
    return { ok: true, action: await this.actionFor(entry) };
  }

  // ── operator side ───────────────────────────────────────────────────────────────────────────

  list(): Promise<DiscoveredEntry[]> {
    return this.deps.store.discovered.list();
  }

  get(id: string): Promise<DiscoveredEntry | undefined> {
    return this.deps.store.discovered.get(id);
  }

  /** Creates the machine from the box's report, after the profile fit check; optionally reinstalls it. */
  accept(id: string, body: AcceptBody, rule?: string): Promise<{ machine: Machine; entry: DiscoveredEntry; reinstall: boolean }> {
    return this.entries.run('entries', async () => {
      const entry = await this.deps.store.discovered.get(id);
      if (!entry) throw new LifecycleError(`no discovered box with id ${id}`, 'not-found');
      return this.acceptLocked(entry, body, rule);
    });
  }

  reject(id: string): Promise<DiscoveredEntry> {
    return this.entries.run('entries', async () => {
      const entry = await this.deps.store.discovered.get(id);
      if (!entry) throw new LifecycleError(`no discovered box with id ${id}`, 'not-found');
      if (entry.state === 'accepted') throw new ConflictError(`${id} was accepted as machine ${entry.machine}`, 'state');
      const rejected: DiscoveredEntry = { ...entry, state: 'rejected', reason: 'rejected by an operator' };
      await this.deps.store.discovered.put(rejected);
      this.deps.events.report({ mac: entry.macs[0], kind: 'inventory', level: 'info', message: `discovered box ${id} rejected: it is told to power off` });
      return rejected;
    });
  }

  remove(id: string): Promise<boolean> {
    return this.entries.run('entries', () => this.deps.store.discovered.delete(id));
  }

  /** Which rule matches a discovered box, and why each other does not. */
  async explain(id: string): Promise<RuleVerdict[] | undefined> {
    const entry = await this.deps.store.discovered.get(id);
    if (!entry) return undefined;
    return pickRule(await this.deps.store.rules.list(), entry.inventory, await this.acceptedThrough()).verdicts;
  }

  hardware(machine: string): Promise<HardwareRecord | undefined> {
    return this.deps.store.hardware.get(machine);
  }

  /** The fit problems of a machine's profile against its reported hardware ([] without a report). */
  async fitProblems(machine: string): Promise<{ profile: string; problems: Problem[] }> {
    const [record, hw] = await Promise.all([this.deps.reads.record(machine), this.deps.store.hardware.get(machine)]);
    if (!record || !hw) return { profile: record?.profile.name ?? '', problems: [] };
    return { profile: record.profile.name, problems: checkFit(record.profile, hw.inventory) };
  }

  // ── inside ──────────────────────────────────────────────────────────────────────────────────

  /** The address a MAC's live, unreported discovery token is bound to. */
  private async heldBy(mac: string, now: number): Promise<string | undefined> {
    const t = await this.deps.store.discoveryTokens.byMac(mac);
    return t && t.revokedAt === undefined && t.entryId === undefined && now <= t.expiresAt ? t.ip : undefined;
  }

  private refusal(t: DiscoveryToken | undefined, ip: string, use: 'fetch' | 'report' | 'poll'): Refusal | undefined {
    if (!t) return refuse(403, 'unknown token');
    if (t.revokedAt !== undefined) return refuse(410, 'this discovery boot has ended: boot again');
    if (t.ip !== ip) return refuse(403, 'this discovery boot is bound to another address');
    if (use !== 'poll' && this.clock.now() > t.expiresAt) return refuse(403, 'token expired: boot again');
    if (use === 'report' && t.entryId !== undefined) return refuse(410, 'this discovery boot has reported already');
    if (use === 'poll' && t.entryId === undefined) return refuse(410, 'no hardware report was accepted from this boot: boot again');
    return undefined;
  }

  private async intake(t: DiscoveryToken, inv: Inventory, ip: string): Promise<Intake> {
    const { store, events } = this.deps;
    const now = this.clock.now();
    const macs = reportedMacs(inv);
    const owned = (await Promise.all(macs.map((m) => this.deps.reads.machineByMac(m)))).find(Boolean);
    const entries = await store.discovered.list();
    const before = findEntry(entries, inv, macs);
    if (!before && entries.length >= this.deps.settings.maxEntries)
      return refuse(503, `the discovered list is full (discovery.maxEntries ${this.deps.settings.maxEntries}): accept or delete boxes first`);
    let entry: DiscoveredEntry = {
      id: before?.id ?? randomBytes(6).toString('hex'),
      macs,
      state: 'new',
      summary: summarize(inv),
      ip,
      firstSeenAt: before?.firstSeenAt ?? now,
      seenAt: now,
      inventory: inv,
    };
    let accept: AcceptBody | undefined;
    let ruleName: string | undefined;
    let takeOver: Slot | undefined;
    const retired = (await Promise.all(macs.map((m) => store.retiredMacs.get(m)))).find(Boolean);
    const slots = owned || retired || before?.state === 'rejected' ? [] : await this.slotsOf(inv);
    if (before?.state === 'rejected') entry = { ...entry, state: 'rejected', reason: before.reason };
    else if (owned && before?.state === 'accepted' && before.machine === owned.name) entry = { ...before, seenAt: now, inventory: inv, summary: entry.summary, ip };
    else if (owned) entry = { ...entry, reason: `MAC ${macs.find((m) => owned.macs.includes(m))} belongs to machine ${owned.name}` };
    else if (retired) entry = { ...entry, reason: `a box retired from machine ${retired.machine}: its slot has another box now` };
    else if (slots.length > 1) {
      entry = { ...entry, state: 'matched', reason: `its LLDP neighbours match the cabling of ${slots.map((s) => s.machine.name).join(' and ')}: fix the cabling declarations` };
      events.report({ mac: t.mac, ip, kind: 'inventory', level: 'error', message: `cabling error: box ${entry.id} matches the slots of ${slots.map((s) => s.machine.name).join(' and ')}` });
    } else if (slots.length === 1) {
      const claim = await this.claim(entry, slots[0], entries, now);
      entry = claim.takeOver ? { ...claim.entry, reason: `taking over ${slots[0].machine.name} once its current box is found down` } : claim.entry;
      takeOver = claim.takeOver ? slots[0] : undefined;
    } else {
      const { rule } = pickRule(await store.rules.list(), inv, await this.acceptedThrough(entries));
      if (rule) {
        ruleName = rule.name;
        entry = { ...entry, rule: rule.name, state: rule.accept === 'reject' ? 'rejected' : 'matched', reason: rule.accept === 'reject' ? `rejected by rule ${rule.name}` : 'waiting for an operator (rule accept: manual)' };
        if (rule.accept === 'auto') {
          const name = machineName(rule.machineName, inv);
          if ('error' in name) entry.reason = `not accepted: ${name.error}`;
          else accept = { name: name.name, profile: rule.profile, reinstall: rule.reinstall };
        }
      }
    }
    await store.transaction(async (tx) => {
      await tx.discovered.put(entry);
      await tx.discoveryTokens.put({ ...t, entryId: entry.id });
    });
    events.report({
      ...(entry.replaces ? { machine: entry.replaces } : {}),
      mac: t.mac,
      ip,
      kind: 'inventory',
      level: 'info',
      message: `${before ? 'known' : 'new'} box ${entry.id} reported: ${entry.summary}${entry.rule ? ` (rule ${entry.rule}: ${entry.state})` : ''}${entry.replaces ? ` (cabled as ${entry.replaces})` : ''}`,
      data: { id: entry.id, state: entry.state, rule: entry.rule, replaces: entry.replaces },
    });
    if (takeOver) {
      if (this.deps.alive) return { ok: true, entry, action: 'wait', probe: takeOver.machine };
      entry = await this.takeOver(entry, takeOver);
    }
    if (accept) {
      try {
        const done = await this.acceptLocked(entry, accept, ruleName);
        entry = done.entry;
      } catch (err) {
        entry = { ...entry, reason: `not accepted: ${(err as Error).message}` };
        await store.discovered.put(entry);
        events.report({ mac: t.mac, ip, kind: 'inventory', level: 'warn', message: `box ${entry.id} matched rule ${ruleName} but was not accepted: ${(err as Error).message}` });
      }
    }
    return { ok: true, entry, machine: entry.machine, action: await this.actionFor(entry) };
  }

  private async acceptLocked(entry: DiscoveredEntry, body: AcceptBody, rule?: string): Promise<{ machine: Machine; entry: DiscoveredEntry; reinstall: boolean }> {
    if (entry.state === 'accepted') throw new ConflictError(`${entry.id} was accepted already, as machine ${entry.machine}`, 'state');
    const { name, profile: profileName, reinstall, ...fields } = body;
    if (name === undefined && profileName === undefined && entry.replaces) {
      const machine = await this.deps.reads.machine(entry.replaces);
      const roles = machine && slotMatch(machine.cabling, entry.inventory);
      if (!machine || !roles) throw new ConflictError(`${entry.id} is no longer cabled as ${entry.replaces}: report again, or accept it with a name and a profile`, 'replaces');
      const accepted = await this.replaceLocked(entry, { machine, roles });
      return { machine: (await this.deps.reads.machine(machine.name))!, entry: accepted, reinstall: true };
    }
    if (name === undefined) throw new InventoryRefused([{ path: 'name', message: entry.replaces ? 'required with a profile (an empty body replaces the box of the cabled machine)' : 'required' }]);
    if (profileName === undefined) throw new InventoryRefused([{ path: 'profile', message: 'required' }]);
    const profile = await this.deps.reads.profile(profileName);
    if (!profile) throw new InventoryRefused([{ path: 'profile', message: `no profile named "${profileName}"` }]);
    const problems = checkFit(profile, entry.inventory);
    if (problems.length) throw new Misfit(profile.name, problems);
    const nics = assignNics(profile, entry.inventory);
    if ('problems' in nics) throw new Misfit(profile.name, nics.problems);
    if (await this.deps.reads.machine(name)) throw new ConflictError(`a machine named ${name} exists`, 'name');
    const parsed = Machine.safeParse({ macs: nics.macs, nics: nics.nics, ...fields, name, profile: profileName });
    if (!parsed.success) throw new InventoryRefused(parsed.error.issues.map((i) => ({ path: i.path.join('.') || 'body', message: i.message })));
    const machine = parsed.data;
    const accepted: DiscoveredEntry = { ...entry, state: 'accepted', machine: machine.name, reason: undefined, ...(rule ? { rule } : {}) };
    const hardware: HardwareRecord = { inventory: entry.inventory, reportedAt: entry.seenAt, source: 'discovery' };
    await this.deps.inventory.putMachine(machine, async (tx) => {
      await tx.hardware.put(machine.name, hardware);
      await tx.discovered.put(accepted);
    });
    this.deps.events.report({
      machine: machine.name,
      kind: 'inventory',
      level: 'info',
      message: `discovered box ${entry.id} accepted as ${machine.name} (profile ${profile.name}${rule ? `, rule ${rule}` : ''})${reinstall ? '; reinstalling' : ''}`,
      data: { id: entry.id, rule, macs: machine.macs },
    });
    if (reinstall) await this.deps.lifecycle.reinstall(machine.name);
    return { machine, entry: accepted, reinstall };
  }

  /** The cabled machines whose every cabled port has one of this box's NICs on it. */
  private async slotsOf(inv: Inventory): Promise<Slot[]> {
    const slots: Slot[] = [];
    for (const machine of await this.deps.reads.machines()) {
      const roles = slotMatch(machine.cabling, inv);
      if (roles) slots.push({ machine, roles });
    }
    return slots;
  }

  /**
   * A box in a machine's cabled ports claims its slot. replace: never ignores it, confirm waits
   * for an accept, auto takes over at once, unless the slot's current box was heard lately or
   * another box claimed the slot lately: two live boxes in one slot is a cabling error.
   */
  private async claim(entry: DiscoveredEntry, slot: Slot, entries: DiscoveredEntry[], now: number): Promise<{ entry: DiscoveredEntry; takeOver: boolean }> {
    const { machine } = slot;
    if (machine.replace === 'never') return { entry: { ...entry, reason: `cabled as ${machine.name}, which says replace: never` }, takeOver: false };
    const claimed: DiscoveredEntry = { ...entry, state: 'matched', replaces: machine.name };
    const profile = await this.deps.reads.profile(machine.profile);
    const problems = profile ? [...checkFit(profile, entry.inventory), ...problemsOf(assignNics(profile, entry.inventory, slot.roles))] : [];
    if (profile && problems.length) return { entry: { ...claimed, reason: new Misfit(profile.name, problems).message }, takeOver: false };
    if (machine.replace === 'confirm') return { entry: { ...claimed, reason: `waiting for an operator (replace: confirm): accept ${entry.id} with an empty body to make it ${machine.name}` }, takeOver: false };
    const quiet = this.deps.settings.replaceQuietSeconds * 1000;
    const heard = Math.max(0, ...(await Promise.all(machine.macs.map((m) => this.deps.reads.lastHeard(m)))).map((h) => h ?? 0));
    const rivals = entries.filter((e) => e.id !== entry.id && e.replaces === machine.name && e.state === 'matched' && now - e.seenAt < quiet);
    if (now - heard >= quiet && !rivals.length) return { entry: claimed, takeOver: true };
    const who = [
      ...(now - heard < quiet ? [`its current box (${machine.macs.join(', ')}) was heard ${Math.round((now - heard) / 1000)} s ago`] : []),
      ...rivals.map((r) => `box ${r.id} (${r.macs.join(', ')}) claimed it ${Math.round((now - r.seenAt) / 1000)} s ago`),
    ];
    return { entry: this.cablingError(claimed, machine, who, rivals), takeOver: false };
  }

  /** Two live boxes for one slot: the entry waits for an operator, an error event names both. */
  private cablingError(entry: DiscoveredEntry, machine: Machine, who: string[], rivals: DiscoveredEntry[] = []): DiscoveredEntry {
    const quiet = this.deps.settings.replaceQuietSeconds;
    const reason = `cabling error: box ${entry.id} (${entry.macs.join(', ')}) is in the slot of ${machine.name}, but ${who.join(' and ')}; nothing is taken over within discovery.replaceQuietSeconds (${quiet} s): check the cables, then accept one`;
    this.deps.events.report({ machine: machine.name, mac: entry.macs[0], kind: 'inventory', level: 'error', message: reason, data: { id: entry.id, rivals: rivals.map((r) => r.id) } });
    return { ...entry, reason };
  }

  /**
   * The second half of a takeover, after the old box was probed outside the lock (an SSH
   * timeout must not hold every other report): the claim is checked again, as things may have
   * moved meanwhile, and carried out unless the old box answered.
   */
  private async settle(id: string, name: string, up: string | undefined): Promise<ReportOutcome> {
    const { store, reads } = this.deps;
    let entry = await store.discovered.get(id);
    const machine = await reads.machine(name);
    const roles = machine && entry && slotMatch(machine.cabling, entry.inventory);
    if (!entry) return refuse(410, 'this box was deleted from the discovered list: boot again');
    if (entry.state !== 'matched' || entry.replaces !== name || !machine || !roles) return { ok: true, entry, machine: entry.machine, action: await this.actionFor(entry) };
    const claim = await this.claim(entry, { machine, roles }, await store.discovered.list(), this.clock.now());
    entry = claim.entry;
    // A report's LLDP is the box's word: a box that lies about its switch port must not take a
    // healthy host's name, so one that is still up (SSH, pinned key) keeps its slot.
    if (claim.takeOver && up) entry = this.cablingError(entry, machine, [`its current box answers SSH at ${up} with its pinned host key`]);
    if (claim.takeOver && !up) entry = await this.takeOver(entry, { machine, roles });
    else await store.discovered.put(entry);
    return { ok: true, entry, machine: entry.machine, action: await this.actionFor(entry) };
  }

  /** Carries out a takeover; a failure leaves the box matched with the reason. */
  private async takeOver(entry: DiscoveredEntry, slot: Slot): Promise<DiscoveredEntry> {
    try {
      return await this.replaceLocked(entry, slot);
    } catch (err) {
      const failed = { ...entry, reason: `not taken over: ${(err as Error).message}` };
      await this.deps.store.discovered.put(failed);
      this.deps.events.report({ machine: slot.machine.name, mac: entry.macs[0], kind: 'inventory', level: 'warn', message: `box ${entry.id} is cabled as ${slot.machine.name} but did not take it over: ${(err as Error).message}` });
      return failed;
    }
  }

  /**
   * Carries out a replacement, in one transaction: the machine takes the box's MACs and NIC roles
   * (the cabled roles from LLDP), the old MACs are retired, the hardware replaced, the host keys
   * cleared, the history and the `replaced` event written. Then the reinstall starts; the box,
   * running the agent, is told to reboot into it.
   */
  private async replaceLocked(entry: DiscoveredEntry, slot: Slot): Promise<DiscoveredEntry> {
    const { reads, store, inventory, lifecycle } = this.deps;
    const old = slot.machine;
    const inv = entry.inventory;
    const profile = await reads.profile(old.profile);
    if (!profile) throw new InventoryRefused([{ path: 'profile', message: `no profile named "${old.profile}"` }]);
    const nics = assignNics(profile, inv, slot.roles);
    const problems = [...checkFit(profile, inv), ...problemsOf(nics)];
    if (problems.length || 'problems' in nics) throw new Misfit(profile.name, problems);
    const machine: Machine = { ...old, macs: nics.macs, nics: nics.nics, bmc: bmcFromReport(old.bmc, inv) };
    const now = this.clock.now();
    const before = await store.hardware.get(old.name);
    const replacement: Replacement = {
      machine: old.name,
      at: now,
      entry: entry.id,
      slot: old.cabling,
      oldMacs: old.macs,
      newMacs: machine.macs,
      ...(before?.inventory.system?.serial ? { oldSerial: before.inventory.system.serial } : {}),
      ...(inv.system?.serial ? { newSerial: inv.system.serial } : {}),
    };
    const accepted: DiscoveredEntry = { ...entry, state: 'accepted', machine: old.name, replaces: old.name, reason: undefined };
    const where = Object.entries(old.cabling).map(([role, p]) => `${role} ${p.switch} ${p.port}`).join(', ');
    await inventory.replaceBox(
      machine,
      async (tx) => {
        await tx.hardware.put(old.name, { inventory: inv, reportedAt: entry.seenAt, source: 'discovery' });
        const gone = old.macs.filter((m) => !machine.macs.includes(m));
        if (gone.length) await tx.retiredMacs.put(gone, old.name, now);
        await tx.replacements.append(replacement);
        await tx.discovered.put(accepted);
      },
      {
        machine: old.name,
        kind: 'replaced',
        level: 'info',
        message: `${old.name} is box ${entry.id} now (${where}): serial ${replacement.oldSerial ?? '?'} → ${replacement.newSerial ?? '?'}, MACs ${old.macs.join(', ') || 'none'} → ${machine.macs.join(', ')}`,
        data: { ...replacement },
      },
    );
    // The old box's install, if one ran, is as dead as the box.
    const s = await reads.status(old.name);
    await lifecycle.reinstall(old.name, { force: !!s && !RESTING.includes(s.state) });
    return accepted;
  }

  /** A machine's boxes over time. */
  replacements(machine: string): Promise<Replacement[]> {
    return this.deps.store.replacements.list(machine);
  }

  /** Accepted boxes per rule, for maxCount. */
  private async acceptedThrough(entries?: DiscoveredEntry[]): Promise<(rule: string) => number> {
    const all = entries ?? (await this.deps.store.discovered.list());
    const counts = new Map<string, number>();
    for (const e of all) if (e.state === 'accepted' && e.rule) counts.set(e.rule, (counts.get(e.rule) ?? 0) + 1);
    return (rule) => counts.get(rule) ?? 0;
  }

  private async actionFor(entry: DiscoveredEntry): Promise<DiscoveryAction> {
    switch (entry.state) {
      case 'new':
      case 'matched':
        return 'wait';
      case 'rejected':
        return 'poweroff';
      case 'accepted': {
        // Reinstalling: the box netboots into its install. Accepted without: it waits switched off.
        const s = entry.machine ? await this.deps.reads.status(entry.machine) : undefined;
        return s?.netboot === 'install' ? 'reboot' : 'poweroff';
      }
    }
  }

  /** An install's own %pre report: refresh the hardware, fail the install early on a misfit. */
  private async installReport(token: string, ip: string, body: string): Promise<ReportOutcome> {
    const check = await this.deps.installs.checkToken(token, 'callback', ip);
    if (!check.ok) return refuse(check.status, check.reason);
    const parsed = parseReport(body);
    if (!parsed.ok) return parsed;
    const { machine, profile } = check.record;
    const inventory = parsed.inventory;
    await this.deps.store.hardware.put(machine.name, { inventory, reportedAt: this.clock.now(), source: 'install' });
    for (const wrong of miscabled(machine.cabling, nicMap(machine, Object.keys(machine.cabling)), inventory))
      this.deps.events.report({ machine: machine.name, ip, kind: 'inventory', level: 'warn', message: `cabling: ${wrong}` });
    const problems = checkFit(profile, inventory);
    if (!problems.length) {
      this.deps.events.report({ machine: machine.name, ip, kind: 'inventory', level: 'info', message: `hardware reported by the installer: ${summarize(inventory)}` });
      return { ok: true, machine: machine.name, action: 'wait' };
    }
    const misfit = new Misfit(profile.name, problems);
    this.deps.events.report({ machine: machine.name, ip, kind: 'inventory', level: 'error', message: misfit.message, data: { problems } });
    await this.deps.lifecycle.step(machine.name, { kind: 'misfit', installId: check.token.installId, reason: misfit.message });
    return refuse(409, misfit.message, problems);
  }
}

/** A cabled slot a report matched: the machine and the box's NIC on each cabled role. */
interface Slot {
  machine: Machine;
  roles: Record<string, string>;
}

function problemsOf(nics: ReturnType<typeof assignNics>): Problem[] {
  return 'problems' in nics ? nics.problems : [];
}

/**
 * bmc.addressFrom: discovery takes the address the box's agent read from its BMC (ipmitool lan
 * print), in the form the driver wants; the credentials stay. An address the driver would refuse
 * leaves the old one.
 */
function bmcFromReport(bmc: Machine['bmc'], inv: Inventory): Machine['bmc'] {
  const reported = inv.bmc?.address;
  if (bmc.addressFrom !== 'discovery' || !reported) return bmc;
  const address = bmc.driver === 'redfish' ? `https://${reported}` : reported;
  return bmcAddressProblem({ ...bmc, address }) ? bmc : { ...bmc, address };
}

function parseReport(body: string): { ok: true; inventory: Inventory } | Refusal {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (err) {
    return refuse(400, `body: not JSON (${(err as Error).message})`);
  }
  const parsed = Inventory.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, 20).map((i) => ({ path: i.path.join('.') || 'body', message: i.message }));
    return refuse(400, issues.map((i) => `${i.path}: ${i.message}`).join('; '), issues);
  }
  return { ok: true, inventory: parsed.data };
}
