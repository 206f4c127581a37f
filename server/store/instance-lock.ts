import { createHash } from 'node:crypto';
import { type AdvisoryLock, type AdvisoryLockOptions, holdAdvisoryLock } from './advisory-lock.js';

/** Another live process holds this instance name on the database. */
export class InstanceNameTaken extends Error {
  constructor(
    readonly instance: string,
    /** Who holds it, as PostgreSQL sees the holding connection, when it could be read. */
    readonly holder?: string,
  ) {
    super(
      `instance ${instance} is running already (PostgreSQL advisory lock): give this one another name with KICKSTAND_INSTANCE` +
        (holder ? ` (the name is held by ${holder})` : ''),
    );
    this.name = 'InstanceNameTaken';
  }
}

/**
 * The advisory lock key of a name in a namespace: the first 64 bits of SHA-256 over
 * `kickstand-NAMESPACE:NAME`, as the signed BIGINT pg_try_advisory_lock takes (a decimal string:
 * a JavaScript number would lose the low bits).
 */
export function lockKey(namespace: string, name: string): string {
  return createHash('sha256').update(`kickstand-${namespace}:${name}`).digest().readBigInt64BE(0).toString();
}

export const instanceLockKey = (name: string) => lockKey('instance', name);

export type InstanceLock = AdvisoryLock & { readonly instance: string };
export type InstanceLockOptions = Omit<AdvisoryLockOptions, 'wait' | 'taken' | 'what'>;

/**
 * Takes the instance name on the database: two processes with one name cannot both run, and a
 * holder that dies, kill -9 included, frees the name at once (advisory-lock.ts).
 */
export async function lockInstanceName(instance: string, opts: InstanceLockOptions): Promise<InstanceLock> {
  const lock = await holdAdvisoryLock(instanceLockKey(instance), { ...opts, what: 'the name', taken: (holder) => new InstanceNameTaken(instance, holder) });
  return Object.assign(lock, { instance });
}
