import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { BootEvent } from '../../server/model/events.js';
import { openSqliteStore } from '../../server/store/sqlite.js';

/**
 * events.appendMany writes a burst with multi-row INSERTs: every event must come back from
 * list() exactly as written, under the id appendMany returned for it, in order.
 */
t.test('bursts of every size keep each event, its fields and its id', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ks-events-'));
  const store = await openSqliteStore(join(dir, 'kickstand.db'));
  t.teardown(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  await store.events.append({ kind: 'dhcp', level: 'info', message: 'before', mac: '52:54:00:00:00:09' }, 5);
  let n = 0;
  const event = (): BootEvent => {
    n++;
    // Alternate the optional fields so a shifted row would show.
    return {
      kind: n % 2 ? 'kickstart' : 'asset',
      level: n % 3 ? 'info' : 'warn',
      message: `event ${n}`,
      ...(n % 2 ? { machine: `m${n % 5}` } : { mac: `52:54:00:00:00:${String(n % 90).padStart(2, '0')}` }),
      ...(n % 4 ? { ip: `127.0.0.${n % 250}` } : {}),
      ...(n % 7 ? {} : { data: { n, nested: { list: [n] } } }),
    };
  };
  const written = [];
  for (const size of [1, 3, 4, 5, 16, 21, 64, 85, 150, 500]) {
    const batch = Array.from({ length: size }, (_, i) => ({ event: event(), at: 1000 + n * 10 + i }));
    const stored = await store.events.appendMany(batch);
    t.equal(stored.length, size, `${size}: one stored event per event`);
    t.same(stored.map((s) => s.message), batch.map((b) => b.event.message), `${size}: in order`);
    written.push(...stored);
  }
  const ids = written.map((e) => e.id);
  t.same(ids, [...new Set(ids)].sort((a, b) => a - b), 'ids unique and increasing');
  const listed = await store.events.list({ afterId: 1, limit: 10000 });
  t.equal(listed.length, written.length);
  t.same(listed, written, 'list() returns each event under the id appendMany gave it');
  const single = await store.events.append({ kind: 'tftp', level: 'info', message: 'after' }, 7);
  t.equal(single.id, ids.at(-1)! + 1, 'a single append continues the numbering');
});
