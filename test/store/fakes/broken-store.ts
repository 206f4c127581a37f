import { StoreUnavailable } from '../../../server/model/errors.js';
import type { Repos, Store } from '../../../server/store/store.js';
import { aroundRepos } from './repos.js';

export interface BrokenStore extends Store {
  /** From now on every write (transactions included) rejects with StoreUnavailable. */
  break(): void;
  /** Writes reach the inner store again. */
  heal(): void;
  readonly broken: boolean;
  /** `repo.method` of every write refused so far, in order ('transaction' for a refused transaction, 'commit' for one refused at its end). */
  readonly refused: string[];
}

/**
 * A store whose disk went away: while broken, every write rejects with StoreUnavailable (as the
 * SQLite store does on SQLITE_FULL, _IOERR, _READONLY) and writes nothing; every read still
 * answers from the inner store, which keeps what was written before.
 *
 * A transaction started while broken is refused before fn runs (BEGIN fails). One that is open
 * when the store breaks sees its later writes refused, and if fn resolves anyway, its commit is
 * refused and the inner transaction rolled back: nothing of it is kept.
 */
export function brokenStore(inner: Store, opts: { broken?: boolean } = {}): BrokenStore {
  let broken = opts.broken ?? false;
  const refused: string[] = [];
  const refuse = (name: string) => {
    refused.push(name);
    return new StoreUnavailable(`the store is broken (test fake): ${name} refused`);
  };
  const guard = (repos: Repos) =>
    aroundRepos(repos, (access, name, call) => (access === 'write' && broken ? Promise.reject(refuse(name)) : call()));

  return {
    ...guard(inner),
    async transaction(fn, opts) {
      if (broken) throw refuse('transaction');
      return inner.transaction(async (tx) => {
        const result = await fn(guard(tx));
        if (broken) throw refuse('commit');
        return result;
      }, opts);
    },
    check: () => (broken ? Promise.reject(refuse('check')) : inner.check()),
    close: () => inner.close(),
    break() {
      broken = true;
    },
    heal() {
      broken = false;
    },
    get broken() {
      return broken;
    },
    refused,
  };
}
