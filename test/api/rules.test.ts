/** Discovery rules over the API: CRUD with field-path errors and priority ties, and in /apply. */
import t from 'tap';
import { minimalProfile } from '../helpers/fixtures.js';
import { postgresUnavailable, startPostgres } from '../helpers/postgres.js';
import { startTestService } from '../helpers/service.js';

const profile = minimalProfile('p1');
const rule = (name: string, priority: number, extra: Record<string, unknown> = {}) => ({
  name,
  priority,
  profile: 'p1',
  match: [{ key: 'system.product', operator: 'In', values: ['R640'] }],
  ...extra,
});
/** The rule as stored: with the schema's defaults. */
const stored = (name: string, priority: number, extra: Record<string, unknown> = {}) => ({ ...rule(name, priority), machineName: 'm-{{bootMac}}', accept: 'manual', reinstall: false, ...extra });
type Item = { kind: string; name: string; action: string };
const ofKind = (plan: Item[], kind: string) => plan.filter((i) => i.kind === kind).map((i) => `${i.action} ${i.name}`);

t.test('rules CRUD: create, read, replace, delete, with 400/404/409 naming the field', async (t) => {
  const { api } = await startTestService(t);
  t.same((await api('GET', '/api/v1/rules')).json, [], 'none at first');

  const noProfile = await api('POST', '/api/v1/rules', rule('web', 10));
  t.equal(noProfile.status, 400, 'a rule whose profile does not exist');
  t.same(noProfile.json.issues, [{ path: 'profile', message: 'no profile named "p1"' }]);
  t.equal((await api('POST', '/api/v1/profiles', profile)).status, 201);

  const created = await api('POST', '/api/v1/rules', rule('web', 10, { accept: 'auto', maxCount: 3 }));
  t.equal(created.status, 201);
  t.same(created.json, stored('web', 10, { accept: 'auto', maxCount: 3 }), 'the response has the defaults filled in');
  t.same((await api('GET', '/api/v1/rules/web')).json, stored('web', 10, { accept: 'auto', maxCount: 3 }));

  const exists = await api('POST', '/api/v1/rules', rule('web', 11));
  t.equal(exists.status, 409, 'POST of an existing name');
  t.same(exists.json.issues, [{ path: 'name', message: 'exists' }]);

  const badOp = await api('POST', '/api/v1/rules', { ...rule('r2', 5), match: [{ key: 'system.product', operator: 'Like', values: ['x'] }] });
  t.equal(badOp.status, 400);
  t.same(badOp.json.issues.map((i: { path: string }) => i.path), ['match.0.operator'], 'a bad operator names match.0.operator');

  const badValues = await api('POST', '/api/v1/rules', { ...rule('r2', 5), match: [{ key: 'disks.count', operator: 'Gt', values: ['many'] }] });
  t.equal(badValues.status, 400);
  t.same(badValues.json.issues, [{ path: 'match.0.values', message: 'Gt takes exactly one number' }]);

  const badKey = await api('POST', '/api/v1/rules', { ...rule('r2', 5), match: [{ key: 'system..product', operator: 'Exists' }] });
  t.equal(badKey.status, 400);
  t.equal(badKey.json.issues[0].path, 'match.0.key');

  const badTemplate = await api('POST', '/api/v1/rules', rule('r2', 5, { machineName: 'Web_{{system.serial}}' }));
  t.equal(badTemplate.status, 400);
  t.equal(badTemplate.json.issues[0].path, 'machineName');

  const noMatch = await api('POST', '/api/v1/rules', { name: 'r2', profile: 'p1', match: [] });
  t.equal(noMatch.status, 400);
  t.equal(noMatch.json.issues[0].path, 'match', 'a rule must match something');

  const tie = await api('POST', '/api/v1/rules', rule('r2', 10));
  t.equal(tie.status, 409, 'a second rule on priority 10');
  t.equal(tie.json.issues[0].path, 'priority');
  t.match(tie.json.message, /priority 10 is also rule "web"/, 'naming the other rule');
  t.equal((await api('GET', '/api/v1/rules/r2')).status, 404, 'nothing was written');

  t.equal((await api('PUT', '/api/v1/rules/r2', rule('r2', 20))).status, 201, 'PUT creates');
  const tiePut = await api('PUT', '/api/v1/rules/r2', rule('r2', 10));
  t.equal(tiePut.status, 409, 'PUT onto the other rule\'s priority');
  t.match(tiePut.json.message, /"web"/);
  t.equal((await api('PUT', '/api/v1/rules/web', rule('web', 10, { accept: 'auto', maxCount: 3 }))).status, 200, 'a rule keeps its own priority');
  t.equal((await api('PUT', '/api/v1/rules/r2', rule('r2', 30, { reinstall: true }))).status, 200, 'PUT replaces');
  t.same((await api('GET', '/api/v1/rules')).json.map((r: { name: string; priority: number }) => [r.name, r.priority]), [['r2', 30], ['web', 10]], 'highest priority first');

  const mismatch = await api('PUT', '/api/v1/rules/other', rule('r2', 40));
  t.equal(mismatch.status, 400);
  t.equal(mismatch.json.issues[0].path, 'name');

  const inUse = await api('DELETE', '/api/v1/profiles/p1');
  t.equal(inUse.status, 409, 'a profile a rule uses cannot be deleted');
  t.match(inUse.json.message, /used by rule\(s\) r2, web/);

  t.equal((await api('GET', '/api/v1/rules/nope')).status, 404);
  t.equal((await api('DELETE', '/api/v1/rules/r2')).status, 204);
  t.equal((await api('DELETE', '/api/v1/rules/r2')).status, 404);
  t.equal((await api('DELETE', '/api/v1/rules/web')).status, 204);
  t.equal((await api('DELETE', '/api/v1/profiles/p1')).status, 204, 'and can once no rule does');
});

t.test('the OpenAPI document lists the rule routes with the Rule schema', async (t) => {
  const { api } = await startTestService(t);
  const spec = (await api('GET', '/docs/json', undefined, null)).json;
  t.same(Object.keys(spec.paths['/api/v1/rules']).sort(), ['get', 'post']);
  t.same(Object.keys(spec.paths['/api/v1/rules/{name}']).sort(), ['delete', 'get', 'put']);
  t.match(JSON.stringify(spec.paths['/api/v1/rules'].post.requestBody), /schemas\/Rule/, 'the body is the Rule schema');
  t.match(JSON.stringify(spec.paths['/api/v1/rules/{name}'].put.requestBody), /schemas\/Rule/);
});

t.test('apply with rules: plan, apply, unchanged, update', async (t) => {
  const { api } = await startTestService(t);
  const body = { profiles: [profile], rules: [rule('a', 10), rule('b', 5)] };
  const plan = await api('POST', '/api/v1/apply', { ...body, dryRun: true });
  t.equal(plan.status, 200);
  t.same(ofKind(plan.json.plan, 'rule'), ['create a', 'create b']);
  t.same((await api('GET', '/api/v1/rules')).json, [], 'a dry run writes nothing');
  t.same(ofKind((await api('POST', '/api/v1/apply', body)).json.plan, 'rule'), ['create a', 'create b']);
  t.same((await api('GET', '/api/v1/rules')).json, [stored('a', 10), stored('b', 5)]);
  const again = await api('POST', '/api/v1/apply', { ...body, dryRun: true });
  t.same(ofKind(again.json.plan, 'rule'), ['unchanged a', 'unchanged b']);
  const changed = await api('POST', '/api/v1/apply', { profiles: [profile], rules: [rule('a', 10, { accept: 'auto' }), rule('b', 5)] });
  t.same(ofKind(changed.json.plan, 'rule'), ['update a', 'unchanged b']);
  t.equal((await api('GET', '/api/v1/rules/a')).json.accept, 'auto');
});

t.test('apply with rules: ties are refused, a swap is not a tie', async (t) => {
  const { api } = await startTestService(t);
  t.equal((await api('POST', '/api/v1/apply', { profiles: [profile], rules: [rule('a', 10), rule('b', 5)] })).status, 200);

  const tie = await api('POST', '/api/v1/apply', { profiles: [profile], rules: [rule('a', 10), rule('b', 10)] });
  t.equal(tie.status, 409, 'two desired rules on one priority');
  t.equal(tie.json.issues[0].path, 'rule b: priority');
  t.match(tie.json.message, /priority 10 is also rule "a"/);
  const tieDry = await api('POST', '/api/v1/apply', { profiles: [profile], rules: [rule('a', 10), rule('b', 10)], dryRun: true });
  t.equal(tieDry.status, 409, 'the dry run says so too');

  const swap = await api('POST', '/api/v1/apply', { profiles: [profile], rules: [rule('a', 5), rule('b', 10)] });
  t.equal(swap.status, 200, 'swapping two priorities in one apply');
  t.same(ofKind(swap.json.plan, 'rule'), ['update a', 'update b']);
  t.same((await api('GET', '/api/v1/rules')).json.map((r: { name: string; priority: number }) => [r.name, r.priority]), [['b', 10], ['a', 5]]);

  const kept = await api('POST', '/api/v1/apply', { profiles: [profile], rules: [rule('c', 10)] });
  t.equal(kept.status, 409, 'a desired rule on the priority of a stored rule the apply keeps');
  t.match(kept.json.message, /rule c: priority 10 is also rule "b" \(stored, not in this apply; prune deletes it\)/);
  t.equal((await api('GET', '/api/v1/rules/c')).status, 404, 'nothing was written');

  const pruned = await api('POST', '/api/v1/apply', { profiles: [profile], rules: [rule('c', 10)], prune: true });
  t.equal(pruned.status, 200, 'with prune the stored rule goes, so the priority is free');
  t.same(ofKind(pruned.json.plan, 'rule'), ['create c', 'delete b', 'delete a']);
  t.same((await api('GET', '/api/v1/rules')).json.map((r: { name: string }) => r.name), ['c']);

  const dup = await api('POST', '/api/v1/apply', { profiles: [profile], rules: [rule('c', 10), rule('c', 11)] });
  t.equal(dup.status, 400, 'one name twice');
  t.same(dup.json.issues, [{ path: 'rule c: name', message: 'appears more than once' }]);
});

t.test('apply with rules: profile references, in the apply or stored, and prune order', async (t) => {
  const { api } = await startTestService(t);
  const missing = await api('POST', '/api/v1/apply', { rules: [rule('a', 1)], dryRun: true });
  t.equal(missing.status, 400, 'a rule whose profile neither the apply nor the store has');
  t.same(missing.json.issues, [{ path: 'rule a: profile', message: 'no profile named "p1"' }]);

  t.equal((await api('POST', '/api/v1/apply', { profiles: [profile], rules: [rule('a', 1)] })).status, 200, 'the profile in the same apply');
  t.equal((await api('POST', '/api/v1/apply', { rules: [rule('b', 2)] })).status, 200, 'a stored profile, without prune');

  const gone = await api('POST', '/api/v1/apply', { rules: [rule('b', 2)], prune: true, dryRun: true });
  t.equal(gone.status, 400, 'prune would delete the profile the rule names');
  t.same(gone.json.issues, [{ path: 'rule b: profile', message: 'no profile named "p1"' }]);

  const all = await api('POST', '/api/v1/apply', { prune: true });
  t.equal(all.status, 200, 'pruning everything deletes the rules before their profile');
  t.same(all.json.plan.map((i: Item) => `${i.action} ${i.kind} ${i.name}`), ['delete profile p1', 'delete rule b', 'delete rule a']);
  t.same((await api('GET', '/api/v1/rules')).json, []);
  t.same((await api('GET', '/api/v1/profiles')).json, []);
});

t.test('the example inventory loads its rule at start', async (t) => {
  const { api } = await startTestService(t, { inventory: 'machines' });
  t.same((await api('GET', '/api/v1/rules')).json.map((r: { name: string; profile: string }) => [r.name, r.profile]), [['r640-web', 'r640-raid1-bond']]);
  t.same((await api('GET', '/api/v1/machines')).json.map((m: { name: string }) => m.name), ['edge-01', 'util-01', 'web-01']);
});

t.test('PostgreSQL, two instances: rule writes checked against each other, never both through', { skip: postgresUnavailable() }, async (t) => {
  const pg = await startPostgres();
  t.teardown(() => pg.destroy());
  const url = await pg.createDatabase(t);
  const a = await startTestService(t, { config: { instance: 'rack-a', store: { url } } });
  const b = await startTestService(t, { config: { instance: 'rack-b', store: { url } }, dataDir: a.dataDir });
  t.equal((await a.api('POST', '/api/v1/profiles', profile)).status, 201);
  // Each round, the two instances are asked at once for two rules of one priority: the check and
  // the write of each are one transaction, and those of rules run one at a time, across instances.
  const rounds = 15;
  const taken: number[][] = [];
  for (let i = 0; i < rounds; i++) {
    const [ra, rb] = await Promise.all([a.api('POST', '/api/v1/rules', rule(`a${i}`, i)), b.api('POST', '/api/v1/rules', rule(`b${i}`, i))]);
    taken.push([ra.status, rb.status].sort());
  }
  t.same(taken, Array(rounds).fill([201, 409]), 'each round: one created, one refused for the tie');
  t.equal((await b.api('GET', '/api/v1/rules')).json.length, rounds, 'one rule per priority');

  // A profile delete and a rule naming the profile, at once: the rule is refused, or the delete is.
  const spare = minimalProfile('spare');
  let both = 0;
  for (let i = 0; i < rounds; i++) {
    t.equal((await a.api('PUT', '/api/v1/profiles/spare', spare)).status < 300, true);
    const [del, put] = await Promise.all([a.api('DELETE', '/api/v1/profiles/spare'), b.api('POST', '/api/v1/rules', rule(`s${i}`, 100 + i, { profile: 'spare' }))]);
    if (del.status === 204 && put.status === 201) both++;
    if (put.status === 201) t.equal((await a.api('DELETE', `/api/v1/rules/s${i}`)).status, 204);
  }
  t.equal(both, 0, 'never a rule left naming a deleted profile');
});
