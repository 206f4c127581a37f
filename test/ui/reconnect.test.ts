import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { minimalProfile } from '../helpers/fixtures.js';
import { startTestService } from '../helpers/service.js';
import { openPage, startBrowser } from '../helpers/browser.js';

/**
 * The console outlives a restart of kickstand: the list notices the stream is gone, reconnects
 * by itself once the service is back (same port, same data), its session still valid (the cookie
 * is signed, not stored), and goes on updating rows without a reload.
 */

const dataDir = mkdtempSync(join(tmpdir(), 'ks-ui-restart-'));
t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
const browser = await startBrowser(t);
const page = await openPage(t, browser);
let port = 0;

t.test('first life: sign in, the list is live', async (t) => {
  const { api, base, config, svc } = await startTestService(t, { dataDir });
  port = svc.port;
  t.equal((await api('POST', '/api/v1/profiles', minimalProfile('p1'))).status, 201);
  t.equal((await api('POST', '/api/v1/machines', { name: 'n-1', profile: 'p1', macs: ['52:54:00:c0:22:01'], bmc: { driver: 'manual' } })).status, 201);
  await page.goto(`${base}/ui/`);
  await page.type('#signin input[name=token]', config.api.token!);
  await page.click('#signin button[type=submit]');
  await page.waitForSelector('tr[data-machine="n-1"][data-state="registered"]');
  await page.waitForSelector('.bar .link.live');
  await page.evaluate(() => ((window as unknown as { notReloaded: boolean }).notReloaded = true));
});

t.test('kickstand is gone: the page says it is reconnecting', async (t) => {
  await page.waitForSelector('.bar .link.reconnecting');
  t.match(await page.$eval('.bar .link', (e) => e.textContent), 'reconnecting');
});

t.test('second life on the same port and data: the stream is back by itself, and so are live rows', async (t) => {
  const { api } = await startTestService(t, { dataDir, config: { http: { host: '127.0.0.1', port } } });
  await page.waitForSelector('.bar .link.live', { timeout: 20_000 });
  t.equal((await api('POST', '/api/v1/machines/n-1/reinstall')).status, 202);
  await page.waitForSelector('tr[data-machine="n-1"][data-state="power-cycling"]');
  t.ok(await page.evaluate(() => (window as unknown as { notReloaded: boolean }).notReloaded), 'without a reload, and still signed in');
  t.equal(await page.$('#signin:not([hidden])'), null, 'the sign-in form stayed hidden');
});
