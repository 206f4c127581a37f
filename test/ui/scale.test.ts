import t from 'tap';
import { minimalProfile } from '../helpers/fixtures.js';
import { startTestService } from '../helpers/service.js';
import { openPage, startBrowser, textOf } from '../helpers/browser.js';

/**
 * The machine list with 1,000 machines: one page of rows in the document whatever the count,
 * quick to show, and still live. Times are bounded loosely (a shared two-core machine); what
 * would break them is rendering every row or a request per machine.
 */

const N = 1000;
const name = (i: number) => `m-${String(i).padStart(4, '0')}`;
const mac = (i: number) => `52:54:00:10:${String(Math.floor(i / 100)).padStart(2, '0')}:${String(i % 100).padStart(2, '0')}`;

const { base, api, config, svc } = await startTestService(t);
const browser = await startBrowser(t);

t.before(async () => {
  const machines = Array.from({ length: N }, (_, i) => ({ name: name(i + 1), profile: 'p1', macs: [mac(i + 1)], bmc: { driver: 'manual' } }));
  const applied = await api('POST', '/api/v1/apply', { profiles: [minimalProfile('p1')], machines });
  t.equal(applied.status, 200);
  // A few installs under way and a few failed (cancelled), scattered through the names.
  for (const i of [17, 333, 640, 998]) t.equal((await api('POST', `/api/v1/machines/${name(i)}/reinstall`)).status, 202);
  for (const i of [333, 998]) t.equal((await api('POST', `/api/v1/machines/${name(i)}/cancel`)).status, 200);
});

t.test('1,000 machines: one page of 50 rows, failed first, paged and filtered without a reload, live', async (t) => {
  const started = Date.now();
  const listed = await api('GET', '/api/v1/progress');
  t.equal(listed.json.length, N, 'GET /progress answers every machine at once');
  t.ok(Date.now() - started < 2000, `in ${Date.now() - started} ms`);

  const page = await openPage(t, browser);
  await page.goto(`${base}/ui/`);
  await page.type('#signin input[name=token]', config.api.token!);
  const submitted = Date.now();
  await page.click('#signin button[type=submit]');
  await page.waitForSelector('tbody tr[data-machine]');
  const shownIn = Date.now() - submitted;
  t.ok(shownIn < 5000, `the first page shows ${shownIn} ms after signing in`);
  t.equal(await page.$$eval('tbody tr', (trs) => trs.length), 50, 'only one page of rows is in the document');
  t.match(await textOf(page, '.counts'), `${N} machines · 2 failed · 2 installing`);
  const first = await page.$$eval('tbody tr[data-machine]', (trs) => trs.slice(0, 5).map((tr) => `${tr.getAttribute('data-machine')} ${tr.getAttribute('data-state')}`));
  t.same(first, ['m-0333 failed', 'm-0998 failed', 'm-0017 power-cycling', 'm-0640 power-cycling', 'm-0001 registered'], 'failed first, then installs under way, then by name');
  t.match(await textOf(page, '.pager'), `1–50 of ${N}`);

  await page.evaluate(() => ((window as unknown as { notReloaded: boolean }).notReloaded = true));
  await page.click('.pager button:last-child');
  await page.waitForFunction(() => document.querySelector('.pager')!.textContent!.includes('51–100'));
  t.equal(await page.$eval('tbody tr', (tr) => tr.getAttribute('data-machine')), 'm-0048', 'the next page (the first held the 4 failed or installing and m-0001…m-0047 but m-0017)');

  await page.type('input[type=search]', 'm-05');
  await page.waitForFunction(() => document.querySelector('.pager')!.textContent!.includes('of 100'));
  t.equal(await page.$eval('tbody tr', (tr) => tr.getAttribute('data-machine')), 'm-0500', 'the filter starts again from the first page');

  // Live with the list filtered: a reinstall elsewhere shows in its row.
  t.equal((await api('POST', `/api/v1/machines/${name(512)}/reinstall`)).status, 202);
  await page.waitForSelector('tr[data-machine="m-0512"][data-state="power-cycling"]');
  t.equal(await page.$eval('tbody tr', (tr) => tr.getAttribute('data-machine')), 'm-0512', 'and it moves up among the installs under way');
  t.ok(await page.evaluate(() => (window as unknown as { notReloaded: boolean }).notReloaded), 'all without a reload');

  // A storm: 10,000 protocol events across the rack in one burst. The list keeps up and shows the last.
  const stormed = Date.now();
  for (let i = 0; i < 10_000; i++) svc.events.report({ machine: name((i % N) + 1), kind: 'dhcp', level: 'info', message: `DISCOVER ${i}` });
  svc.events.report({ machine: name(500), kind: 'dhcp', level: 'info', message: 'the storm is over' });
  await page.waitForFunction(() => /the storm is over/.test(document.querySelector('tr[data-machine="m-0500"] .last-event')?.textContent ?? ''), { timeout: 30_000 });
  const caughtUp = Date.now() - stormed;
  t.ok(caughtUp < 15_000, `the row shows the storm's last event ${caughtUp} ms after it began`);
  t.match(await textOf(page, 'tr[data-machine="m-0501"] .last-event'), /DISCOVER 9500/, 'and every row its own last one');
});
