/**
 * The event stream across instances on one PostgreSQL: SSE on any instance streams the events
 * every instance writes, in id order, each once, and Last-Event-ID resumes on another instance
 * where the first one stopped. The lifecycle of an instance still observes its own events only.
 */
import t from 'tap';
import type { StoredEvent } from '../../server/model/events.js';
import { minimalProfile } from '../helpers/fixtures.js';
import { postgresForTest } from '../helpers/postgres.js';
import { startTestService } from '../helpers/service.js';
import { openStream } from '../helpers/sse.js';
import { openPostgresStore } from '../../server/store/postgres.js';

const TOKEN = 'test-token-0123456789abcdef';
const MAC_A = '52:54:00:aa:00:01';
const MAC_B = '52:54:00:bb:00:01';

const increasing = (ids: number[]) => ids.every((id, i) => i === 0 || id > ids[i - 1]);

t.test('PostgreSQL: SSE spans instances', async (t) => {
  const pg = await postgresForTest(t);
  if (!pg) return;

  t.test('an event written by rack-b reaches a stream on rack-a; Last-Event-ID resumes on rack-b', async (t) => {
    const url = await pg.createDatabase(t);
    const a = await startTestService(t, { config: { instance: 'rack-a', store: { url } } });
    const b = await startTestService(t, { config: { instance: 'rack-b', store: { url } }, dataDir: a.dataDir });
    // What rack-a's lifecycle (and anything else subscribed in process) is handed: its own only.
    const localOnA: StoredEvent[] = [];
    a.svc.events.subscribe((e) => localOnA.push(e));

    const onA = openStream(a.base, { token: TOKEN });
    await onA.opened;
    t.equal((await b.api('POST', '/api/v1/profiles', minimalProfile('p1'))).status, 201);
    t.equal((await b.api('POST', '/api/v1/machines', { name: 'web-b', profile: 'p1', macs: [MAC_B] })).status, 201, 'registered on rack-b');
    const started = Date.now();
    t.equal((await fetch(`${b.base}/boot/ipxe?mac=${MAC_B}`)).status, 200, 'booted through rack-b');
    await b.svc.events.flush();
    const fromB = (await b.svc.reads.events({})).filter((e) => e.instance === 'rack-b');
    t.ok(fromB.length >= 1, `rack-b wrote events (${fromB.map((e) => e.kind).join(', ')})`);
    const newest = fromB.at(-1)!.id;
    t.ok(await onA.until((es) => es.some((e) => e.id === newest)), 'rack-a streams rack-b’s newest event');
    t.ok(Date.now() - started < 2_000, `within 2 s (${Date.now() - started} ms)`);

    // Both write now: rack-a's own path and the notifications deliver, interleaved.
    t.equal((await a.api('POST', '/api/v1/machines', { name: 'web-a', profile: 'p1', macs: [MAC_A] })).status, 201, 'registered on rack-a');
    await Promise.all([fetch(`${a.base}/boot/ipxe?mac=${MAC_A}`), fetch(`${b.base}/boot/ipxe?mac=${MAC_B}`)]);
    await Promise.all([a.svc.events.flush(), b.svc.events.flush()]);
    let stored = await a.svc.reads.events({});
    t.ok(await onA.until((es) => es.length === stored.length), `rack-a streamed all ${stored.length} events`);
    t.same(
      onA.events.map((e) => [e.id, e.instance]),
      stored.map((e) => [e.id, e.instance]),
      'in id order, each once, each with its writer',
    );
    t.same([...new Set(onA.events.map((e) => e.instance))].sort(), ['rack-a', 'rack-b']);
    const lastSeen = onA.events.at(-1)!.id;
    onA.close();

    // More events after rack-a's stream ended; then resume on rack-b from what rack-a last sent.
    await Promise.all([fetch(`${a.base}/boot/ipxe?mac=${MAC_A}`), fetch(`${b.base}/boot/ipxe?mac=${MAC_B}`)]);
    await Promise.all([a.svc.events.flush(), b.svc.events.flush()]);
    stored = await b.svc.reads.events({});
    const following = stored.filter((e) => e.id > lastSeen);
    t.ok(following.length >= 2, `${following.length} events after ${lastSeen}`);
    const onB = openStream(b.base, { token: TOKEN, lastEventId: lastSeen });
    t.ok(await onB.until((es) => es.length >= following.length), 'rack-b sends the backlog after Last-Event-ID');
    // And then live events of both instances.
    await fetch(`${a.base}/boot/ipxe?mac=${MAC_A}`);
    await a.svc.events.flush();
    const after = (await b.svc.reads.events({ afterId: lastSeen })).map((e) => e.id);
    t.ok(await onB.until((es) => es.length >= after.length), 'and rack-a’s live events');
    t.same(
      onB.events.map((e) => e.id),
      after,
      'exactly the events after Last-Event-ID, in order, none twice',
    );
    onB.close();

    t.ok(localOnA.length > 0, 'rack-a’s own events were handed to its subscribers');
    t.same(
      localOnA.filter((e) => e.instance !== 'rack-a').map((e) => e.id),
      [],
      'rack-a’s in-process subscribers (the lifecycle) never get rack-b’s events',
    );
  });

  t.test('no event twice when the local and the remote path both fire, under concurrent writes', async (t) => {
    const url = await pg.createDatabase(t);
    const a = await startTestService(t, { config: { instance: 'rack-a', store: { url } } });
    const b = await startTestService(t, { config: { instance: 'rack-b', store: { url } }, dataDir: a.dataDir });
    t.equal((await a.api('POST', '/api/v1/profiles', minimalProfile('p1'))).status, 201);
    t.equal((await a.api('POST', '/api/v1/machines', { name: 'web-a', profile: 'p1', macs: [MAC_A] })).status, 201);
    t.equal((await b.api('POST', '/api/v1/machines', { name: 'web-b', profile: 'p1', macs: [MAC_B] })).status, 201);

    const all = openStream(a.base, { token: TOKEN });
    const onlyA = openStream(a.base, { token: TOKEN, query: 'machine=web-a' });
    const onlyB = openStream(b.base, { token: TOKEN, query: 'machine=web-a' });
    await Promise.all([all.opened, onlyA.opened, onlyB.opened]);
    // rack-a's own events come to its streams both from its EventLog and from its own NOTIFY.
    const boots: Promise<Response>[] = [];
    for (let i = 0; i < 15; i++) boots.push(fetch(`${a.base}/boot/ipxe?mac=${MAC_A}`), fetch(`${b.base}/boot/ipxe?mac=${MAC_B}`), fetch(`${b.base}/boot/ipxe?mac=${MAC_A}`));
    t.ok((await Promise.all(boots)).every((r) => r.status === 200), 'every boot answered');
    await Promise.all([a.svc.events.flush(), b.svc.events.flush()]);
    const stored = await a.svc.reads.events({});
    const storedA = stored.filter((e) => e.machine === 'web-a');
    t.ok(await all.until((es) => es.length >= stored.length), `the whole stream has all ${stored.length} events`);
    t.ok(await onlyA.until((es) => es.length >= storedA.length), `web-a's stream on rack-a has its ${storedA.length}`);
    t.ok(await onlyB.until((es) => es.length >= storedA.length), `web-a's stream on rack-b has its ${storedA.length}`);
    // A moment for anything that would come twice.
    await new Promise((resolve) => setTimeout(resolve, 300));
    t.same(
      all.events.map((e) => e.id),
      stored.map((e) => e.id),
      'rack-a: every id once, in order',
    );
    t.ok(increasing(all.events.map((e) => e.id)));
    t.same([...new Set(storedA.map((e) => e.instance))].sort(), ['rack-a', 'rack-b'], 'web-a’s events come from both instances');
    t.same(
      onlyA.events.map((e) => e.id),
      storedA.map((e) => e.id),
      'the machine filter on rack-a: every id once, in order',
    );
    t.same(
      onlyB.events.map((e) => e.id),
      storedA.map((e) => e.id),
      'the machine filter on rack-b: the same',
    );
    all.close();
    onlyA.close();
    onlyB.close();
  });

  // Last: it restarts the server.
  t.test('the store hears committed events of other stores, and says "maybe missed" after its connection came back', async (t) => {
    const url = await pg.createDatabase(t);
    const a = await openPostgresStore(url, { instance: 'w-a' });
    t.teardown(() => a.close());
    const b = await openPostgresStore(url, { instance: 'w-b' });
    t.teardown(() => b.close());
    const heard: (number | undefined)[] = [];
    const waitFor = async (pred: () => boolean, ms = 10_000) => {
      for (const end = Date.now() + ms; Date.now() < end && !pred(); ) await new Promise((r) => setTimeout(r, 20));
      return pred();
    };
    const stop = a.watchEvents!((id) => heard.push(id));
    t.ok(await waitFor(() => heard.includes(undefined)), 'LISTEN in effect: told to read once');
    const ev = { kind: 'ipxe-script', level: 'info', message: 'x' } as const;
    const stored = await b.events.appendMany([
      { event: ev, at: 1 },
      { event: ev, at: 2 },
    ]);
    t.ok(await waitFor(() => heard.includes(stored[1].id)), 'one notification with the batch’s highest id');
    t.notOk(heard.includes(stored[0].id), 'not one per event');
    await t.rejects(
      b.transaction(async (tx) => {
        await tx.events.append(ev, 3);
        throw new Error('rolled back');
      }),
    );
    const inTx = await b.transaction((tx) => tx.events.append(ev, 4));
    t.ok(await waitFor(() => heard.includes(inTx.id)), 'a transaction’s events once it commits');
    t.notOk(heard.includes(inTx.id - 1), 'a rolled-back insert is never announced');

    heard.length = 0;
    pg.stop();
    pg.start();
    t.ok(await waitFor(() => heard.includes(undefined)), 'after the server came back: told that events may have been missed');
    // The pool's connections died with the server: the first writes may fail before new ones are made.
    let later: StoredEvent | undefined;
    for (let i = 0; i < 20 && !later; i++) later = await b.events.append(ev, 5).catch(() => new Promise<undefined>((r) => setTimeout(r, 100)));
    if (!later) throw new Error('no write after the restart');
    t.ok(await waitFor(() => heard.includes(later.id)), 'and hears new events again');
    stop();
  });
});
