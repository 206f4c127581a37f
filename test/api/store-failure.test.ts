import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { openSqliteStore } from '../../server/store/sqlite.js';
import { minimalProfile } from '../helpers/fixtures.js';
import { startTestService } from '../helpers/service.js';
import { brokenStore } from '../store/fakes/broken-store.js';
import { emptyStore } from '../store/fakes/empty-store.js';

/**
 * The service on a store that cannot take writes (disk full, read-only, I/O error): writes are
 * answered 503 with a message, not 500, and leave nothing half-done; reads and the boot path go
 * on; once the store heals, writes work again.
 */
const MAC = '52:54:00:12:34:56';
const profile = minimalProfile('p1');
const machine = { name: 'web-01', profile: 'p1', macs: [MAC] };

t.test('a store that cannot take writes: 503 for writes, reads still served, nothing half-done', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ks-broken-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true })); // after the service's own teardown closes the store
  const store = brokenStore(await openSqliteStore(join(dir, 'kickstand.db')));
  const { api, base, svc } = await startTestService(t, { service: { store: async () => store } });
  const ipxe = () => fetch(`${base}/boot/ipxe?mac=${MAC}`);

  t.equal((await api('POST', '/api/v1/profiles', profile)).status, 201, 'healthy: a profile is registered');
  t.equal((await api('POST', '/api/v1/machines', machine)).status, 201, 'healthy: a machine is registered');
  const machineBefore = (await api('GET', '/api/v1/machines/web-01')).json;
  const progressBefore = (await api('GET', '/api/v1/machines/web-01/progress')).json;
  const statusBefore = await store.status.get('web-01');
  t.match(machineBefore, { name: 'web-01', state: 'registered' });
  t.ok(statusBefore, 'the machine has a status');

  store.break();
  const unavailable = (what: string, res: Awaited<ReturnType<typeof api>>) => {
    t.equal(res.status, 503, `${what}: 503`);
    t.match(res.headers.get('content-type'), /application\/json/, `${what}: a JSON body`);
    t.type(res.json?.message, 'string', `${what}: with a message`);
    t.match(res.json?.message, /the store is broken \(test fake\)/, `${what}: the message says the store refused the write (${res.json?.message})`);
  };

  const refusedBefore = store.refused.length;
  unavailable('POST /api/v1/machines', await api('POST', '/api/v1/machines', { name: 'web-02', profile: 'p1', macs: ['52:54:00:12:34:57'] }));
  // An unchanged profile is answered without a write; this one changes.
  unavailable('PUT /api/v1/profiles/p1', await api('PUT', '/api/v1/profiles/p1', { ...profile, packages: ['vim'] }));
  unavailable('POST /api/v1/machines/web-01/reinstall', await api('POST', '/api/v1/machines/web-01/reinstall'));
  t.ok(store.refused.length >= refusedBefore + 3, `the 503s come from refused writes (${store.refused.slice(refusedBefore).join(', ')})`);

  const list = await api('GET', '/api/v1/machines');
  t.equal(list.status, 200, 'while broken, GET /api/v1/machines is served');
  t.same(list.json.map((m: { name: string }) => m.name), ['web-01'], 'with the machine, and not the refused one');
  t.equal((await api('GET', '/api/v1/machines/web-02')).status, 404, 'the refused machine does not exist');
  t.same((await api('GET', '/api/v1/profiles/p1')).json.packages, [], 'the refused profile change is not there');
  const script = await ipxe();
  t.equal(script.status, 200, 'while broken, the boot path serves iPXE scripts');
  t.match(await script.text(), /^#!ipxe\n# local 52:54:00:12:34:56/, 'the local-boot script: no install was half-started');
  await svc.lifecycle.idle();
  const health = await api('GET', '/healthz', undefined, null);
  t.equal(health.status, 503, 'the process is up, and /healthz says the store cannot write');
  t.match(health.json, { status: 'unhealthy', message: /the store is broken/ });

  store.heal();
  t.equal((await api('GET', '/healthz', undefined, null)).status, 200, 'healed, healthy');
  const machineAfter = (await api('GET', '/api/v1/machines/web-01')).json;
  const progressAfter = (await api('GET', '/api/v1/machines/web-01/progress')).json;
  t.same(machineAfter, machineBefore, 'healed: the machine is as it was before the refused writes');
  const resting = (p: Record<string, unknown>) => ({ ...p, events: (p.events as { kind: string }[]).filter((e) => e.kind === 'state'), lastEvent: undefined });
  t.same(resting(progressAfter), resting(progressBefore), 'its progress too: same state, step, times, no state event');
  t.same(await store.status.get('web-01'), statusBefore, 'its stored status is the same version');
  t.equal(await store.tokens.current('web-01'), undefined, 'no install token was left behind by the refused reinstall');

  t.equal((await api('POST', '/api/v1/machines', { name: 'web-02', profile: 'p1', macs: ['52:54:00:12:34:57'] })).status, 201, 'healed: writes work again');
  t.equal((await api('PUT', '/api/v1/profiles/p1', { ...profile, packages: ['vim'] })).status, 200);
  const reinstall = await api('POST', '/api/v1/machines/web-01/reinstall');
  t.equal(reinstall.status, 202, 'and a reinstall starts');
  await svc.lifecycle.idle();
  t.match(await (await ipxe()).text(), /# install 52:54:00:12:34:56 token=/, 'the machine now gets the install script');
});

t.test('an empty store: no machines, every MAC is unknown, writes are 503', async (t) => {
  const store = emptyStore();
  const { api, base } = await startTestService(t, { service: { store: async () => store } });
  const list = await api('GET', '/api/v1/machines');
  t.equal(list.status, 200);
  t.same(list.json, [], 'GET /api/v1/machines is []');
  for (const mac of ['52:54:00:12:34:56', 'aa:bb:cc:dd:ee:ff']) {
    const res = await fetch(`${base}/boot/ipxe?mac=${mac}`);
    t.equal(res.status, 200, `iPXE for ${mac}: 200`);
    t.match(await res.text(), new RegExp(`^#!ipxe\\n# unknown ${mac}`), 'the unknown-machine script');
  }
  const post = await api('POST', '/api/v1/profiles', profile);
  t.equal(post.status, 503, 'a write is refused with 503');
  t.match(post.json?.message, /the store is empty and takes no writes/);
  t.equal((await api('GET', '/healthz', undefined, null)).status, 503, 'the process is up; /healthz: a store that takes no writes is not healthy');
});
