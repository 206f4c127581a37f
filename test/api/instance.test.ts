/**
 * Instance names through the service: /healthz and /metrics say which instance answers, and the
 * events it writes carry its name in progress and the SSE stream. With PostgreSQL, two services
 * on one database each stamp their own name, a second process with a name already running
 * refuses to start, and every instance converges with the one SSH key the instances share.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { loadOrCreateKeyPair } from '../../server/converge/keys.js';
import { InstanceNameTaken } from '../../server/store/instance-lock.js';
import { minimalProfile } from '../helpers/fixtures.js';
import { postgresUnavailable, startPostgres } from '../helpers/postgres.js';
import { startTestService } from '../helpers/service.js';
import { sseEvents } from '../helpers/sse.js';

const MAC = '52:54:00:12:34:56';
const TOKEN = 'test-token-0123456789abcdef';

t.test('SQLite: /healthz, /metrics, progress and the event stream name the instance', async (t) => {
  const { api, base, svc } = await startTestService(t, { config: { instance: 'rack-a-1' } });
  const health = await api('GET', '/healthz', undefined, null);
  t.equal(health.status, 200);
  t.same(health.json, { status: 'ok', instance: 'rack-a-1' }, '/healthz names the instance');
  const metrics = await api('GET', '/metrics', undefined, null);
  t.match(metrics.text, /^kickstand_instance_info\{instance="rack-a-1"\} 1$/m, '/metrics has the instance gauge');
  t.match(metrics.text, /^# HELP kickstand_instance_info /m);

  t.equal((await api('POST', '/api/v1/profiles', minimalProfile('p1'))).status, 201);
  t.equal((await api('POST', '/api/v1/machines', { name: 'web-01', profile: 'p1', macs: [MAC] })).status, 201);
  t.equal((await fetch(`${base}/boot/ipxe?mac=${MAC}`)).status, 200, 'a boot request: the boot path reports an event');
  await svc.events.flush();

  const progress = (await api('GET', '/api/v1/machines/web-01/progress')).json;
  t.ok(progress.events.length >= 1, `progress has events (${progress.events.map((e: { kind: string }) => e.kind).join(', ')})`);
  t.same(
    [...new Set(progress.events.map((e: { instance?: string }) => e.instance))],
    ['rack-a-1'],
    'every event in progress carries the instance that wrote it',
  );
  t.equal(progress.lastEvent.instance, 'rack-a-1');

  const stored = await svc.reads.events({ machine: 'web-01' });
  const streamed = await sseEvents(base, { token: TOKEN, query: 'machine=web-01', count: stored.length });
  t.equal(streamed.length, stored.length, 'the stream sends the backlog');
  t.ok(
    streamed.every((e) => e.instance === 'rack-a-1'),
    'every streamed event carries the instance',
  );
});

t.test('the default instance is the host name; a bad name is refused at start, naming the key', async (t) => {
  const { api, config } = await startTestService(t);
  t.match(config.instance, /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/);
  t.equal((await api('GET', '/healthz', undefined, null)).json.instance, config.instance);
  await t.rejects(startTestService(t, { config: { instance: 'rack a' } }), /instance/, 'a space is no part of a name');
});

const why = postgresUnavailable();
t.test('PostgreSQL: two instances on one database each stamp their name; a second process with a name running refuses', { skip: why }, async (t) => {
  const pg = await startPostgres();
  t.teardown(() => pg.destroy());
  const url = await pg.createDatabase(t);
  const a = await startTestService(t, { config: { instance: 'rack-a', store: { url } } });
  // With PostgreSQL the data directory is not locked: a second instance may share it.
  const b = await startTestService(t, { config: { instance: 'rack-b', store: { url } }, dataDir: a.dataDir });
  t.same((await a.api('GET', '/healthz', undefined, null)).json, { status: 'ok', instance: 'rack-a' });
  t.same((await b.api('GET', '/healthz', undefined, null)).json, { status: 'ok', instance: 'rack-b' });
  t.match((await b.api('GET', '/metrics', undefined, null)).text, /^kickstand_instance_info\{instance="rack-b"\} 1$/m);

  t.equal((await a.api('POST', '/api/v1/profiles', minimalProfile('p1'))).status, 201);
  t.equal((await a.api('POST', '/api/v1/machines', { name: 'web-01', profile: 'p1', macs: [MAC] })).status, 201, 'registered on rack-a');
  t.equal((await fetch(`${a.base}/boot/ipxe?mac=${MAC}`)).status, 200, 'booted through rack-a');
  await a.svc.events.flush();
  t.equal((await fetch(`${b.base}/boot/ipxe?mac=${MAC}`)).status, 200, 'and through rack-b');
  await a.svc.events.flush();
  await b.svc.events.flush();
  const stored = await b.svc.reads.events({ machine: 'web-01' });
  const writers = new Set(stored.map((e) => e.instance));
  t.same([...writers].sort(), ['rack-a', 'rack-b'], `each instance's events carry its own name (${stored.map((e) => `${e.kind}@${e.instance}`).join(', ')})`);
  const streamed = await sseEvents(b.base, { token: TOKEN, query: 'machine=web-01', count: stored.length });
  t.same(
    streamed.map((e) => [e.id, e.instance]),
    stored.map((e) => [e.id, e.instance]),
    "rack-b's stream sends rack-a's events too, each with its writer's name",
  );

  const dir = mkdtempSync(join(tmpdir(), 'ks-instance-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const err = await startTestService(t, { config: { instance: 'rack-a', store: { url } }, dataDir: dir }).catch((e) => e);
  t.ok(err instanceof InstanceNameTaken, `a second rack-a does not start (${err?.message})`);
  t.match(err?.message, /^instance rack-a is running already \(PostgreSQL advisory lock\): give this one another name with KICKSTAND_INSTANCE/);
  t.equal((await a.api('GET', '/healthz', undefined, null)).status, 200, 'the running rack-a is untouched');

  // An instance with a data directory of its own, and a converger key of its own in it: it takes
  // the one the instances share, so it can converge (and SSH-reboot) a host rack-a installed.
  const own = mkdtempSync(join(tmpdir(), 'ks-instance-'));
  t.teardown(() => rmSync(own, { recursive: true, force: true }));
  const mine = await loadOrCreateKeyPair(own);
  t.not(mine.publicKey, a.svc.publicKey, 'a fresh data directory holds a key of its own');
  const c = await startTestService(t, { config: { instance: 'rack-c', store: { url } }, dataDir: own });
  t.equal(c.svc.publicKey, a.svc.publicKey, "rack-c converges with rack-a's key, the one on the database");
  t.equal((await loadOrCreateKeyPair(own)).publicKey, a.svc.publicKey, 'and keeps it in its data directory');
});
