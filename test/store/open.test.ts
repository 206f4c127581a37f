/**
 * openStore loads the PostgreSQL driver only for a PostgreSQL URL: node-postgres costs an
 * instance on SQLite ~2.5 MB of resident memory it would never use. This file imports nothing
 * that loads `pg` itself, so what is in the module cache afterwards is openStore's doing.
 */
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { Config } from '../../server/config/schema.js';
import { openStore } from '../../server/store/open.js';

const loaded = () => Object.keys(createRequire(import.meta.url).cache).filter((f) => /[/\\]node_modules[/\\]pg[/\\]/.test(f));

t.test('a SQLite store leaves the PostgreSQL driver unloaded', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ks-open-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const store = await openStore(Config.parse({ dataDir: dir }));
  await store.events.append({ kind: 'asset', level: 'info', message: 'hello' });
  await store.close();
  t.same(loaded(), []);
});

t.test('a PostgreSQL URL loads it (and fails plainly with no server there)', async (t) => {
  // Port 1 on loopback: nothing listens, the connection is refused at once.
  await t.rejects(openStore(Config.parse({ store: { url: 'postgres://nobody@127.0.0.1:1/none' } })));
  t.ok(loaded().length > 0, 'pg is in the module cache');
});
