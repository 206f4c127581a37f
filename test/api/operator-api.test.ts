import t from 'tap';
import { minimalProfile } from '../helpers/fixtures.js';
import { startTestService } from '../helpers/service.js';

const profile = minimalProfile('p1');
const machine = { name: 'web-01', profile: 'p1', macs: ['52:54:00:12:34:56'] };

t.test('every /api/v1 route refuses a request without or with a wrong token', async (t) => {
  const { api } = await startTestService(t);
  const spec = (await api('GET', '/docs/json', undefined, null)).json;
  const routes = Object.entries(spec.paths as Record<string, Record<string, unknown>>)
    .filter(([p]) => p.startsWith('/api/v1'))
    .flatMap(([p, methods]) => Object.keys(methods).map((m) => [m.toUpperCase(), p.replace(/\{[^}]+\}/g, 'x')] as const));
  t.ok(routes.length >= 12, `OpenAPI lists the operator routes (${routes.length})`);
  for (const [method, path] of routes) {
    const body = method === 'GET' || method === 'DELETE' ? undefined : {};
    t.equal((await api(method, path, body, null)).status, 401, `${method} ${path} without a token`);
    t.equal((await api(method, path, body, 'wrong-token-wrong-token')).status, 401, `${method} ${path} with a wrong token`);
  }
  t.equal((await api('GET', '/healthz', undefined, null)).status, 200, 'healthz needs no token');
  const metrics = await api('GET', '/metrics', undefined, null);
  t.match(metrics.text, /kickstand_machines\{state="registered"\}/, 'metrics in Prometheus format');
});

t.test('machines and profiles CRUD with field-path errors and MAC conflicts', async (t) => {
  const { api } = await startTestService(t);
  t.equal((await api('POST', '/api/v1/profiles', profile)).status, 201);

  const badMac = await api('POST', '/api/v1/machines', { ...machine, macs: ['52:54:00:12:34'] });
  t.equal(badMac.status, 400);
  t.same(badMac.json.issues.map((i: { path: string }) => i.path), ['macs.0'], 'bad MAC names macs.0');

  const badName = await api('POST', '/api/v1/machines', { ...machine, name: 'Web_01' });
  t.equal(badName.status, 400);
  t.equal(badName.json.issues[0].path, 'name');

  const noProfile = await api('POST', '/api/v1/machines', { ...machine, profile: 'nope' });
  t.equal(noProfile.status, 400);
  t.same(noProfile.json.issues, [{ path: 'profile', message: 'no profile named "nope"' }]);

  const badBmc = await api('POST', '/api/v1/machines', { ...machine, bmc: { driver: 'redfish' } });
  t.equal(badBmc.status, 400);
  t.equal(badBmc.json.issues[0].path, 'bmc.address');

  const badDisk = await api('POST', '/api/v1/profiles', { ...profile, name: 'p2', disks: [{ name: 'sys0', path: '/dev/sda' }] });
  t.equal(badDisk.status, 400);
  t.equal(badDisk.json.issues[0].path, 'disks.0.path', 'unstable disk path refused with its path');

  const notJson = await api('POST', '/api/v1/machines', '{"name": ');
  t.equal(notJson.status, 400, 'malformed JSON is a 400, not a 500');

  const created = await api('POST', '/api/v1/machines', { ...machine, macs: ['52-54-00-12-34-56'], bmc: { driver: 'ipmi', address: '127.0.0.1', password: 'pw' } });
  t.equal(created.status, 201);
  t.same(created.json.macs, ['52:54:00:12:34:56'], 'MAC stored in canonical form');
  t.equal(created.json.bmc.password, undefined, 'password never returned');
  t.equal(created.json.bmc.passwordSet, true);

  t.equal((await api('POST', '/api/v1/machines', machine)).status, 409, 'POST of an existing name');
  const dup = await api('POST', '/api/v1/machines', { name: 'web-02', profile: 'p1', macs: ['5254.0012.3456'] });
  t.equal(dup.status, 409, 'a MAC owned by another machine, in another notation');
  t.match(dup.json.message, /web-01/);

  const mismatch = await api('PUT', '/api/v1/machines/web-03', machine);
  t.equal(mismatch.status, 400);
  t.equal(mismatch.json.issues[0].path, 'name');

  t.equal((await api('PUT', '/api/v1/machines/web-01', { ...machine, params: { rack: 'a3' } })).status, 200);
  const got = await api('GET', '/api/v1/machines/web-01');
  t.same(got.json.params, { rack: 'a3' });
  t.equal(got.json.state, 'registered');
  t.equal((await api('GET', '/api/v1/machines')).json.length, 1);
  t.equal((await api('GET', '/api/v1/machines/nope')).status, 404);
  t.equal((await api('GET', '/api/v1/profiles/nope')).status, 404);

  t.equal((await api('DELETE', '/api/v1/profiles/p1')).status, 409, 'a profile in use cannot be deleted');
  t.equal((await api('DELETE', '/api/v1/machines/web-01')).status, 204);
  t.equal((await api('DELETE', '/api/v1/machines/web-01')).status, 404);
  t.equal((await api('POST', '/api/v1/machines', { name: 'web-02', profile: 'p1', macs: ['5254.0012.3456'] })).status, 201, 'the MAC is free again');
});

t.test('apply: plan, then apply, then nothing to do; prune deletes', async (t) => {
  const { api } = await startTestService(t);
  const body = { profiles: [profile], machines: [machine, { ...machine, name: 'web-02', macs: ['52:54:00:00:00:02'] }] };
  const plan = await api('POST', '/api/v1/apply', { ...body, dryRun: true });
  t.same(plan.json.plan.map((p: { action: string }) => p.action), ['create', 'create', 'create']);
  t.equal((await api('GET', '/api/v1/machines')).json.length, 0, 'dry run changes nothing');
  t.equal((await api('POST', '/api/v1/apply', body)).status, 200);
  const again = await api('POST', '/api/v1/apply', { ...body, dryRun: true });
  t.same(new Set(again.json.plan.map((p: { action: string }) => p.action)), new Set(['unchanged']), 'second run: all unchanged');
  const changed = await api('POST', '/api/v1/apply', { profiles: [profile], machines: [{ ...machine, params: { rack: 'b1' } }], dryRun: true });
  t.same(changed.json.plan.find((p: { name: string }) => p.name === 'web-01').action, 'update');
  t.notOk(changed.json.plan.some((p: { action: string }) => p.action === 'delete'), 'no delete without prune');
  const pruned = await api('POST', '/api/v1/apply', { profiles: [profile], machines: [machine], prune: true });
  t.same(pruned.json.plan.find((p: { name: string }) => p.name === 'web-02').action, 'delete');
  t.equal((await api('GET', '/api/v1/machines/web-02')).status, 404);
});

t.test('the example inventory loads at start', async (t) => {
  const { api } = await startTestService(t, { inventory: 'machines' });
  const names = (await api('GET', '/api/v1/machines')).json.map((m: { name: string }) => m.name);
  t.same(names, ['edge-01', 'util-01', 'web-01']);
  t.same((await api('GET', '/api/v1/profiles')).json.map((p: { name: string }) => p.name), ['fcos-edge', 'r640-raid1-bond', 'small-bios']);
});

t.test('a static address inside a DHCP pool is refused, naming the field', async (t) => {
  const { api } = await startTestService(t, {
    config: { dhcp: { mode: 'authoritative', interface: 'lo', subnets: [{ cidr: '10.0.10.0/24', range: ['10.0.10.100', '10.0.10.199'] }] } },
  });
  await api('POST', '/api/v1/profiles', profile);
  const inPool = await api('POST', '/api/v1/machines', { ...machine, ipv4: { address: '10.0.10.150/24' } });
  t.equal(inPool.status, 400);
  t.equal(inPool.json.issues[0].path, 'ipv4.address');
  t.match(inPool.json.issues[0].message, /dynamic range 10\.0\.10\.100–10\.0\.10\.199/);
  t.equal((await api('POST', '/api/v1/machines', { ...machine, ipv4: { address: '10.0.10.21/24' } })).status, 201, 'outside the pool is fine');
});
