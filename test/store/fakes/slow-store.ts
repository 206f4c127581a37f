import { setTimeout as sleep } from 'node:timers/promises';
import type { Store } from '../../../server/store/store.js';
import { aroundRepos } from './repos.js';

/**
 * A store far away: every call (reads, writes, transaction, the calls made through a
 * transaction's repos, close) waits `ms` milliseconds on a timer before it reaches the inner
 * store. What the inner store answers is passed through unchanged. Callers that read, await
 * and then write see their awaits interleave with other requests, as with a network store.
 */
export function slowStore(inner: Store, ms: number): Store {
  const slow = <T>(call: () => Promise<T>) => sleep(ms).then(call);
  const around = (_access: unknown, _name: string, call: () => Promise<unknown>) => slow(call);
  return {
    ...aroundRepos(inner, around),
    transaction: (fn, opts) => slow(() => inner.transaction((tx) => fn(aroundRepos(tx, around)), opts)),
    check: () => slow(() => inner.check()),
    close: () => slow(() => inner.close()),
  };
}
