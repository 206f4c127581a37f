import { StoreUnavailable } from '../../../server/model/errors.js';
import type { Store } from '../../../server/store/store.js';

/**
 * A store with nothing in it that takes nothing: every read finds nothing (undefined, empty
 * lists), every write rejects with StoreUnavailable, transactions included (fn never runs).
 *
 * Writes are refused rather than accepted and forgotten: a store that acknowledged a write and
 * then could not find it would break read-your-writes, which every caller relies on (the API
 * would answer 201 for a machine that a GET then calls 404; the lifecycle would register a
 * status and next find no machine). Refusing is the failure the Store interface names, so what
 * a test learns here holds for a real store that cannot take writes; and like Matchbox's
 * empty_store, it keeps "nothing to find" apart from "lost what you wrote".
 */
export function emptyStore(): Store & { readonly refused: string[] } {
  const refused: string[] = [];
  const refuse = async (name: string): Promise<never> => {
    refused.push(name);
    throw new StoreUnavailable(`the store is empty and takes no writes (test fake): ${name} refused`);
  };
  const none = async () => undefined;
  const nothing = async () => [];
  return {
    machines: { get: none, byMac: none, list: nothing, put: () => refuse('machines.put'), delete: () => refuse('machines.delete') },
    profiles: { get: none, list: nothing, put: () => refuse('profiles.put'), delete: () => refuse('profiles.delete') },
    status: { get: none, list: nothing, put: () => refuse('status.put'), delete: () => refuse('status.delete') },
    events: { append: () => refuse('events.append'), appendMany: () => refuse('events.appendMany'), list: nothing, tail: nothing, prune: () => refuse('events.prune') },
    tokens: {
      put: () => refuse('tokens.put'),
      get: none,
      current: none,
      revokeForMachine: () => refuse('tokens.revokeForMachine'),
      deleteForMachine: () => refuse('tokens.deleteForMachine'),
    },
    leases: {
      byMac: none,
      byIp: none,
      list: nothing,
      put: () => refuse('leases.put'),
      putMany: () => refuse('leases.putMany'),
      delete: () => refuse('leases.delete'),
    },
    hardware: { get: none, put: () => refuse('hardware.put') },
    rules: { get: none, list: nothing, put: () => refuse('rules.put'), delete: () => refuse('rules.delete') },
    discovered: { get: none, list: nothing, put: () => refuse('discovered.put'), delete: () => refuse('discovered.delete') },
    discoveryTokens: { put: () => refuse('discoveryTokens.put'), get: none, byMac: none, prune: () => refuse('discoveryTokens.prune') },
    retiredMacs: { put: () => refuse('retiredMacs.put'), get: none },
    replacements: { append: () => refuse('replacements.append'), list: nothing },
    transaction: () => refuse('transaction'),
    check: () => refuse('check'),
    close: async () => undefined,
    refused,
  };
}
