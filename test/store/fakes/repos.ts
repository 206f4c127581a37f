import type { Repos } from '../../../server/store/store.js';

export type Access = 'read' | 'write';

/**
 * Every method of every repo, as a read or a write. Typed so that a method added to the Store
 * interface fails to compile here until it is classified: the fakes below cannot silently let a
 * new write through a "broken" store.
 */
export const METHODS: { [R in keyof Repos]: { [M in keyof Repos[R]]-?: Access } } = {
  machines: { get: 'read', byMac: 'read', list: 'read', put: 'write', delete: 'write' },
  profiles: { get: 'read', list: 'read', put: 'write', delete: 'write' },
  status: { get: 'read', list: 'read', put: 'write', delete: 'write' },
  events: { append: 'write', appendMany: 'write', list: 'read', tail: 'read', prune: 'write' },
  tokens: { put: 'write', get: 'read', current: 'read', revokeForMachine: 'write', deleteForMachine: 'write' },
  leases: { byMac: 'read', byIp: 'read', list: 'read', put: 'write', putMany: 'write', delete: 'write' },
  hardware: { get: 'read', put: 'write' },
  rules: { get: 'read', list: 'read', put: 'write', delete: 'write' },
  discovered: { get: 'read', list: 'read', put: 'write', delete: 'write' },
  discoveryTokens: { put: 'write', get: 'read', byMac: 'read', prune: 'write' },
  retiredMacs: { put: 'write', get: 'read' },
  replacements: { append: 'write', list: 'read' },
};

type Call = (...args: unknown[]) => Promise<unknown>;

/**
 * Repos whose every method goes through `around(access, name, call)`; `call()` runs the inner
 * method with the original arguments. name is `repo.method`, e.g. `status.put`.
 */
export function aroundRepos(inner: Repos, around: (access: Access, name: string, call: () => Promise<unknown>) => Promise<unknown>): Repos {
  const out: Record<string, Record<string, Call>> = {};
  for (const [repo, methods] of Object.entries(METHODS)) {
    const target = inner[repo as keyof Repos] as unknown as Record<string, Call>;
    out[repo] = {};
    for (const [method, access] of Object.entries(methods as Record<string, Access>))
      out[repo][method] = (...args) => around(access, `${repo}.${method}`, () => target[method](...args));
  }
  return out as unknown as Repos;
}
