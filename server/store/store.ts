import type { InstallToken } from '../model/token.js';
import type { Lease } from '../model/lease.js';
import type { SubnetClaims } from './subnet-locks.js';
import type { Machine } from '../model/machine.js';
import type { Profile } from '../model/profile.js';
import type { BootEvent, StoredEvent } from '../model/events.js';
import type { MachineStatus } from '../model/status.js';
import type { DiscoveredEntry, DiscoveryToken, Replacement, Rule } from '../model/discovery.js';
import type { HardwareRecord } from '../model/hardware.js';

/**
 * The one persistence interface. SQLite is the embedded default; the interface is async so a
 * PostgreSQL store can serve several kickstand instances (one per rack) later. A write that the
 * store cannot take (disk full, read-only, I/O error) rejects with StoreUnavailable and leaves
 * nothing half-written; test/store/contract.ts is what every implementation must pass.
 */

export interface MachineRepo {
  get(name: string): Promise<Machine | undefined>;
  byMac(mac: string): Promise<Machine | undefined>;
  list(): Promise<Machine[]>;
  /** Creates or replaces; throws ConflictError when a MAC belongs to another machine. */
  put(machine: Machine): Promise<void>;
  /** The machine and its MACs; its status and tokens are the lifecycle's to delete. */
  delete(name: string): Promise<boolean>;
}

export interface ProfileRepo {
  get(name: string): Promise<Profile | undefined>;
  list(): Promise<Profile[]>;
  put(profile: Profile): Promise<void>;
  /** Throws ConflictError while a machine uses it. */
  delete(name: string): Promise<boolean>;
}

export interface StatusRepo {
  get(machine: string): Promise<MachineStatus | undefined>;
  list(): Promise<MachineStatus[]>;
  /**
   * Optimistic: fails with ConflictError when the stored version is not status.version - 1, and
   * writes nothing. `events` (those that tell of the change) are appended in the same commit,
   * after it, and come back as stored: the lifecycle's state change, one statement on PostgreSQL
   * where a transaction of its own took four round trips.
   */
  put(status: MachineStatus, events?: { event: BootEvent; at: number }[]): Promise<StoredEvent[]>;
  delete(machine: string): Promise<boolean>;
}

export interface EventRepo {
  append(event: BootEvent, at?: number): Promise<StoredEvent>;
  /** One transaction for a burst: protocol events arrive by the thousand under load. */
  appendMany(events: { event: BootEvent; at: number }[]): Promise<StoredEvent[]>;
  list(query: { machine?: string; afterId?: number; limit?: number }): Promise<StoredEvent[]>;
  /** A machine's newest `limit` events at or after `since`, oldest first. */
  tail(query: { machine: string; since: number; limit: number }): Promise<StoredEvent[]>;
  /** Deletes up to `limit` of the oldest events older than `before`; returns how many went. */
  prune(before: number, limit: number): Promise<number>;
}

export interface TokenRepo {
  put(token: InstallToken): Promise<void>;
  get(token: string): Promise<InstallToken | undefined>;
  /** The machine's token written last (its current install's, while one runs), if any. */
  current(machine: string): Promise<InstallToken | undefined>;
  /** Marks every live token of the machine revoked at `at`; they stay readable. */
  revokeForMachine(machine: string, at: number): Promise<void>;
  deleteForMachine(machine: string): Promise<void>;
}

export interface LeaseRepo {
  byMac(mac: string): Promise<Lease | undefined>;
  byIp(ip: string): Promise<Lease | undefined>;
  list(subnet?: string): Promise<Lease[]>;
  /** Rejects with ConflictError (field ip) when another MAC holds the address (mayTakeAddress). */
  put(lease: Lease): Promise<void>;
  /** LeaseBook.putMany: the leases written, and the holders of the addresses refused. */
  putMany(leases: Lease[]): Promise<Lease[]>;
  delete(mac: string): Promise<void>;
}

/** A machine's newest hardware report; deleted with the machine. */
export interface HardwareRepo {
  get(machine: string): Promise<HardwareRecord | undefined>;
  /** Throws ConflictError when no machine has that name. */
  put(machine: string, record: HardwareRecord): Promise<void>;
}

export interface RuleRepo {
  get(name: string): Promise<Rule | undefined>;
  /** Highest priority first, then by name. */
  list(): Promise<Rule[]>;
  put(rule: Rule): Promise<void>;
  delete(name: string): Promise<boolean>;
}

export interface DiscoveredRepo {
  get(id: string): Promise<DiscoveredEntry | undefined>;
  /** Most recently seen first. */
  list(): Promise<DiscoveredEntry[]>;
  put(entry: DiscoveredEntry): Promise<void>;
  delete(id: string): Promise<boolean>;
}

export interface DiscoveryTokenRepo {
  /** Creates or updates; a new token for a MAC replaces the MAC's previous one. */
  put(token: DiscoveryToken): Promise<void>;
  get(token: string): Promise<DiscoveryToken | undefined>;
  /** The MAC's token, reported or not. */
  byMac(mac: string): Promise<DiscoveryToken | undefined>;
  /** Deletes up to `limit` tokens that expired before `before`; returns how many went. */
  prune(before: number, limit: number): Promise<number>;
}

/** MACs a slot's old box had: they are nobody's now, and never taken back by discovery. */
export interface RetiredMacRepo {
  /** Records the MACs as retired from `machine` at `at` (again: the newer record wins). */
  put(macs: string[], machine: string, at: number): Promise<void>;
  get(mac: string): Promise<{ machine: string; at: number } | undefined>;
}

/** A machine's boxes over time; kept when events are pruned, deleted with nothing. */
export interface ReplacementRepo {
  append(r: Replacement): Promise<void>;
  /** Oldest first. */
  list(machine: string): Promise<Replacement[]>;
}

export interface Repos {
  machines: MachineRepo;
  profiles: ProfileRepo;
  status: StatusRepo;
  events: EventRepo;
  tokens: TokenRepo;
  leases: LeaseRepo;
  hardware: HardwareRepo;
  rules: RuleRepo;
  discovered: DiscoveredRepo;
  discoveryTokens: DiscoveryTokenRepo;
  retiredMacs: RetiredMacRepo;
  replacements: ReplacementRepo;
}

export interface Store extends Repos {
  /**
   * Runs fn with repos whose writes commit together when fn resolves, or not at all when it
   * throws (the error is rethrown). Reads through tx see its own writes.
   *
   * Whether transactions overlap depends on the store, and callers must be right either way.
   * SQLite has one connection: transactions run one at a time, and writes made outside one wait
   * for it to end. PostgreSQL runs them side by side on its pool, as other instances' run anyway:
   * a write over another's is refused by the rows themselves (status versions, MACs, leases:
   * ConflictError), never lost. A check over many rows followed by a write (no two rules with one
   * priority) is not protected so: such transactions name a lock in `exclusive`, and those with
   * the same name run one at a time, across instances too.
   */
  transaction<T>(fn: (tx: Repos) => Promise<T>, opts?: TransactionOptions): Promise<T>;
  /**
   * Hears of events committed by any writer on the same database (other instances included):
   * onNew(lastId) after each committed batch, with its highest id, and onNew() (no id) when some
   * may have been missed (the listening connection was re-established): a reader then reads again
   * after the last id it has. Calls may come for events the caller already has; it reads by id.
   * Returns the way to stop. Absent where no other process writes (SQLite: one kickstand per file).
   */
  watchEvents?(onNew: (lastId?: number) => void): () => void;
  /**
   * Takes the DHCP subnets this instance answers, one lock each, against the other instances on
   * the database (subnet-locks.ts): standby waits for a subnet another holds instead of
   * rejecting with SubnetTaken. Absent where no other process shares the store (SQLite).
   */
  claimSubnets?(subnets: string[], opts: { standby: boolean }): Promise<SubnetClaims>;
  /**
   * The value every instance on the database shares under `name`: the one stored, else
   * `candidate`, stored now (the first instance to ask decides). Absent where no other process
   * shares the store (SQLite).
   */
  sharedValue?(name: string, candidate: string): Promise<string>;
  /**
   * Which of these instance names a live kickstand holds on the database now (instance-lock.ts),
   * read without taking anything: the lifecycle resumes the effects of an instance that is gone.
   * Absent where no other process shares the store (SQLite: a kickstand before this one is gone).
   */
  liveInstances?(names: string[]): Promise<Set<string>>;
  /** Proves the store takes a durable write now (the health check); rejects with StoreUnavailable. */
  check(): Promise<void>;
  close(): Promise<void>;
}

export interface TransactionOptions {
  /** A name: transactions under the same one never overlap (a transaction-level lock). */
  exclusive?: string;
}

/** What a store is opened with (besides where it lives). */
export interface StoreOptions {
  /**
   * This kickstand's name (config `instance`). Every event the store writes carries it, and
   * events.list / tail return it. With PostgreSQL it is also a lock: opening a store under a name
   * that a live store elsewhere holds fails with InstanceNameTaken (instance-lock.ts). Without a
   * name, events carry none and nothing is locked (tests, tools).
   */
  instance?: string;
}

/**
 * Opens a store; main.ts picks one by config (store.url), tests inject their own. main.ts passes
 * the instance name; a factory that takes a lock under it rejects when the name is taken, and
 * kickstand refuses to start.
 */
export type StoreFactory = (opts: Required<StoreOptions>) => Promise<Store>;
