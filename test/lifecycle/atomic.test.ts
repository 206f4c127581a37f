/**
 * A reinstall's writes (status, tokens, state events) are one transaction: a failure injected
 * between them leaves nothing half-done, and the API says so with a 503.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { StoreUnavailable } from '../../server/model/errors.js';
import { openSqliteStore } from '../../server/store/sqlite.js';
import type { Store } from '../../server/store/store.js';
import { minimalProfile } from '../helpers/fixtures.js';
import { startTestService } from '../helpers/service.js';
import { aroundRepos } from '../store/fakes/repos.js';

const MAC = '52:54:00:aa:cc:01';

/** SQLite whose transactions fail at the nth write inside them while `armed` names that write. */
async function faultyStore(dir: string) {
  const inner = await openSqliteStore(join(dir, 'kickstand.db'));
  const fault = { at: '', nth: 1 };
  const store: Store = {
    ...inner,
    transaction: (fn) =>
      inner.transaction((tx) => {
        let seen = 0;
        return fn(
          aroundRepos(tx, async (access, name, call) => {
            if (access === 'write' && name === fault.at && ++seen === fault.nth) throw new StoreUnavailable(`injected: ${name}`);
            return call();
          }),
        );
      }),
  };
  return { store, fault };
}

async function setup(t: Test) {
  const dir = mkdtempSync(join(tmpdir(), 'ks-atomic-'));
  const { store, fault } = await faultyStore(dir);
  const env = await startTestService(t, { dataDir: dir, service: { store: async () => store } });
  await env.api('POST', '/api/v1/profiles', minimalProfile());
  await env.api('POST', '/api/v1/machines', { name: 'node-1', profile: 'p1', macs: [MAC] });
  const snapshot = async () => ({
    status: await env.svc.reads.status('node-1'),
    token: await env.svc.store.tokens.current('node-1'),
    states: (await env.svc.reads.events({ machine: 'node-1', limit: 10000 })).filter((e) => e.kind === 'state').length,
  });
  return { ...env, fault, snapshot };
}

// The status is written last, with the state events (one statement on PostgreSQL).
for (const at of ['tokens.revokeForMachine', 'tokens.put', 'status.put'])
  t.test(`a reinstall that fails at ${at} changes nothing`, async (t) => {
    const { api, fault, snapshot, svc } = await setup(t);
    const before = await snapshot();
    fault.at = at;
    const r = await api('POST', '/api/v1/machines/node-1/reinstall');
    t.equal(r.status, 503, 'the operator hears the store could not take it');
    await svc.lifecycle.idle();
    t.same(await snapshot(), before, 'status, token and state events as they were');
    fault.at = '';
    t.equal((await api('POST', '/api/v1/machines/node-1/reinstall')).status, 202, 'once the store heals, the reinstall goes through');
  });

t.test('a forced reinstall (two moves: failed, then reinstall-requested) that fails at its write keeps the running install and its token', async (t) => {
  const { api, boot, fault, snapshot, svc } = await setup(t).then((e) => ({ ...e, boot: (p: string) => fetch(`${e.base}/boot${p}`) }));
  t.equal((await api('POST', '/api/v1/machines/node-1/reinstall')).status, 202);
  await svc.lifecycle.idle();
  const token = (await svc.installs.installToken('node-1'))!.token;
  const before = await snapshot();
  t.equal(before.status!.state, 'power-cycling');
  // The forced reinstall revokes the token, writes the new one, then the status after both moves
  // with both state events: fail at that last write, after the token writes inside the transaction.
  Object.assign(fault, { at: 'status.put', nth: 1 });
  t.equal((await api('POST', '/api/v1/machines/node-1/reinstall?force=true')).status, 503);
  await svc.lifecycle.idle();
  t.same(await snapshot(), before, 'no failed state, no new token');
  t.equal((await boot(`/kickstart?token=${token}`)).status, 200, 'the running install still fetches its kickstart');

  fault.at = '';
  t.equal((await api('POST', '/api/v1/machines/node-1/reinstall?force=true')).status, 202, 'once the store heals, it goes through');
  const states = (await svc.reads.events({ machine: 'node-1', limit: 10000 })).filter((e) => e.kind === 'state');
  const failed = states.findIndex((e) => e.data!.to === 'failed');
  t.same(
    states.slice(failed, failed + 2).map((e) => `${e.data!.from} → ${e.data!.to}`),
    ['installing → failed', 'failed → reinstall-requested'],
    'both moves are told, in order (the kickstart fetch had moved it to installing)',
  );
  t.equal(states[failed].at, states[failed + 1].at, 'in one commit');
});
