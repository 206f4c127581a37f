import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { Page } from 'puppeteer-core';
import { memoryBackend, startFakeBmc } from '../e2e/fake-bmc/redfish.js';
import { STATES, type State } from '../../server/model/status.js';
import { report } from '../helpers/discovery.js';
import { minimalProfile } from '../helpers/fixtures.js';
import { startTestService } from '../helpers/service.js';
import { ARTIFACTS, openPage, startBrowser, textOf } from '../helpers/browser.js';

/**
 * The web console in a real headless Chromium, against a real service: the example inventory
 * (machines/), a machine behind the test Redfish BMC, and installs driven by the machine side's
 * own HTTP requests (iPXE script, kickstart, callbacks) as an installer makes them.
 */

const EXAMPLES = fileURLToPath(new URL('../../machines/', import.meta.url));
const RF_MAC = '52:54:00:c0:11:01';
const BAD_MAC = '52:54:00:c0:11:02';
const DISCOVERED_MAC = '52:54:00:c0:11:03';
/** rf-01's installer reports it, so the converger may reach rf-01 (its audit has no steps to run). */
const HOST_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINms1/gbQhNAwQvYrW/z14iZp2Ua0C9R3LSpYzJOg3TM root@rf-01';

const backend = memoryBackend('Off');
const bmc = await startFakeBmc({ backend, password: 'bmc-pass-123' });
t.teardown(() => bmc.close());
const { base, api, config, logs } = await startTestService(t, { inventory: EXAMPLES, config: { unknownMachines: 'discover' } });
const TOKEN = config.api.token!;
const browser = await startBrowser(t);

t.before(async () => {
  t.equal((await api('POST', '/api/v1/profiles', minimalProfile('uefi1', 'uefi'))).status, 201);
  const bmcCfg = { driver: 'redfish', address: bmc.url, username: 'admin', password: 'bmc-pass-123', tls: { fingerprint: bmc.fingerprint }, timeoutSeconds: 5 };
  t.equal((await api('POST', '/api/v1/machines', { name: 'rf-01', profile: 'uefi1', macs: [RF_MAC], bmc: bmcCfg })).status, 201);
  t.equal((await api('POST', '/api/v1/machines', { name: 'bad-01', profile: 'uefi1', macs: [BAD_MAC], bmc: { driver: 'manual' } })).status, 201);
});

/** What a machine does over HTTP during its install: the iPXE script (its token), the kickstart, a callback. */
const machine = {
  token: async (mac: string) => /token=(\S+)/.exec(await (await fetch(`${base}/boot/ipxe?mac=${mac}`)).text())![1],
  kickstart: async (token: string) => (await fetch(`${base}/boot/kickstart?token=${token}`)).status,
  callback: async (token: string, event: string, body = '') => (await fetch(`${base}/boot/callback/${event}?token=${token}`, { method: 'POST', body })).status,
};

/** Signs a page in through the form, as an operator does. */
async function signIn(page: Page, token = TOKEN) {
  await page.goto(`${base}/`);
  await page.waitForSelector('#signin input[name=token]', { visible: true });
  await page.type('#signin input[name=token]', token);
  await page.click('#signin button[type=submit]');
}

const rowState = (page: Page, name: string) => page.$eval(`tr[data-machine="${name}"]`, (tr) => tr.getAttribute('data-state'));

t.test('sign-in: a wrong token is refused with a message, the right one opens the console; the token is never in the page or a URL', async (t) => {
  const page = await openPage(t, browser);
  await signIn(page, 'not-the-token-at-all');
  await page.waitForSelector('#signin-error', { visible: true });
  t.match(await textOf(page, '#signin-error'), /not the API token/);
  t.same(await page.cookies(), [], 'no session cookie for a wrong token');
  t.equal(await page.$('table.machines'), null, 'no console behind a wrong token');

  await page.$eval('#signin input[name=token]', (i) => ((i as HTMLInputElement).value = ''));
  await page.type('#signin input[name=token]', TOKEN);
  await page.click('#signin button[type=submit]');
  await page.waitForSelector('tr[data-machine="web-01"]');
  t.equal(new URL(page.url()).pathname, '/ui/', '/ redirected to /ui/');
  t.notMatch(page.url(), TOKEN, 'the token is not in the URL');
  t.notMatch(await page.content(), TOKEN, 'nor anywhere in the page, the sign-in field included');
  t.equal(await page.evaluate(() => document.cookie), '', 'the session cookie is out of reach of scripts');
  const [cookie] = await page.cookies();
  t.match(cookie, { name: 'kickstand_session', httpOnly: true, sameSite: 'Strict', path: '/' });
  t.notMatch(cookie.value, TOKEN);
  t.notOk(logs.lines.some((l) => l.includes(TOKEN)), 'no log line carries the token');
});

/** A signed-in page at `hash`. */
async function signedIn(t: Test, hash = '#/', width = 1280) {
  const page = await openPage(t, browser, width);
  await signIn(page);
  await page.waitForSelector('table.machines tbody tr');
  if (hash !== '#/') await page.evaluate((h) => (location.hash = h), hash);
  return page;
}

t.test('the example machines are listed with profile, state, progress, address, MACs and BMC driver', async (t) => {
  const page = await signedIn(t);
  const rows = await page.$$eval('tr[data-machine]', (trs) => trs.map((tr) => tr.getAttribute('data-machine')));
  for (const name of ['web-01', 'util-01', 'edge-01']) t.ok(rows.includes(name), `${name} is listed`);
  const web = await textOf(page, 'tr[data-machine="web-01"]');
  t.match(web, 'r640-raid1-bond', 'profile');
  t.match(web, /registered/, 'state, in words');
  t.match(web, 'step 0 of 8', 'progress');
  t.match(web, '10.0.10.21', 'address');
  t.match(web, '52:54:00:12:34:56 52:54:00:12:34:57', 'MACs');
  t.match(web, 'redfish', 'BMC driver');
  t.match(await textOf(page, 'tr[data-machine="edge-01"]'), 'manual');
  t.match(await textOf(page, '.bar .link'), 'live', 'the event stream is connected');
});

t.test('a reinstall started from the machine page power-cycles through the Redfish BMC, and the list row moves through the states live', async (t) => {
  const list = await signedIn(t);
  // Every state the row shows, as the DOM changes, and a mark that a reload would wipe.
  await list.evaluate(() => {
    const w = window as unknown as { seen: string[]; notReloaded: boolean };
    w.seen = [];
    w.notReloaded = true;
    const note = () => {
      const s = document.querySelector('tr[data-machine="rf-01"]')?.getAttribute('data-state');
      if (s && s !== w.seen[w.seen.length - 1]) w.seen.push(s);
    };
    new MutationObserver(note).observe(document.querySelector('table.machines')!, { subtree: true, attributes: true, childList: true });
    note();
  });
  const waitRow = (state: string) => list.waitForSelector(`tr[data-machine="rf-01"][data-state="${state}"]`);

  const detail = await signedIn(t, '#/machines/rf-01');
  await detail.waitForSelector('#machine-title');
  await detail.click('.actions button');
  await detail.waitForSelector('dialog[open]');
  t.match(await textOf(detail, 'dialog[open]'), /Reinstall rf-01\?.*rf-01 will be power-cycled/, 'the confirmation names the machine');
  await detail.click('dialog[open] button[value=yes]');

  await waitRow('power-cycling');
  t.match(bmc.log.map((e) => e.kind), ['patch', 'reset'], 'the BMC was told: one-time boot override, then power');
  t.match(bmc.boot, { enabled: 'Disabled' }, 'the override was for one boot, and that boot happened');
  t.match(bmc.boots.at(-1), { device: 'Pxe', mode: 'UEFI' }, 'the machine booted from the network');
  t.equal(backend.state, 'On', 'and is on');

  const token = await machine.token(RF_MAC);
  await waitRow('pxe-booting');
  t.equal(await machine.kickstart(token), 200);
  await waitRow('installing');
  t.match(await textOf(list, 'tr[data-machine="rf-01"]'), /step 5 of 8.*installing for \d+ s/, 'progress and the current step with its age');
  t.equal(await machine.callback(token, 'start'), 200);
  t.equal(await machine.callback(token, 'progress', 'packages 120/300'), 200);
  await list.waitForFunction(() => /packages 120\/300/.test(document.querySelector('tr[data-machine="rf-01"] .last-event')!.textContent!));
  t.equal(await machine.callback(token, 'hostkeys', HOST_KEY), 200);
  t.equal(await machine.callback(token, 'built'), 200);
  await waitRow('ready');
  t.match(await textOf(list, 'tr[data-machine="rf-01"]'), /✓ ready step 8 of 8/);
  const { seen, notReloaded } = await list.evaluate(() => {
    const w = window as unknown as { seen: string[]; notReloaded: boolean };
    return { seen: w.seen, notReloaded: w.notReloaded };
  });
  t.ok(notReloaded, 'the list was never reloaded');
  // Moves a few milliseconds apart (reinstall-requested → power-cycling) may show as one.
  const paced = ['registered', 'power-cycling', 'pxe-booting', 'installing', 'ready'];
  t.same(seen.filter((s) => paced.includes(s)), paced, 'the row showed each state the test waited in');
  t.same([...seen].sort((a, b) => STATES.indexOf(a as State) - STATES.indexOf(b as State)), seen, 'in order, never back');

  // The machine page followed the same install: its timeline, with the protocol events and their spacing.
  await detail.waitForSelector('#machine-title .badge.ready');
  const timeline = await detail.$$eval('table.timeline tbody tr', (trs) => trs.map((tr) => ({ kind: tr.getAttribute('data-kind'), text: (tr as HTMLElement).innerText.replace(/\s+/g, ' ') })));
  const kinds = timeline.map((e) => e.kind);
  for (const kind of ['state', 'power', 'ipxe-script', 'kickstart', 'callback']) t.ok(kinds.includes(kind), `the timeline has ${kind} events`);
  t.match(timeline[0].text, /^\d\d:\d\d:\d\d\.\d{3} state reinstall requested/, 'it starts at the reinstall request, with its time');
  t.ok(timeline.slice(1).every((e) => /^\d\d:\d\d:\d\d\.\d{3} \+\d/.test(e.text)), 'every later event has the time since the one before');
  t.ok(timeline.some((e) => /power-cycling → pxe-booting/.test(e.text)), 'state changes are in it');
  t.match(timeline.at(-1)!.text, /state converged: ready$/, 'up to the end');
  t.match(await textOf(detail, 'table.history'), /✓ ready/, 'the install history has it, ready');
});

t.test('a failed install: phase, reason and hint at the top of its page, with the installer log tail; failed machines first in the list', async (t) => {
  t.equal((await api('POST', '/api/v1/machines/bad-01/reinstall')).status, 202);
  const token = await machine.token(BAD_MAC);
  t.equal(await machine.kickstart(token), 200);
  const log = ['anaconda 34.25.4.9 for Rocky Linux 9 started.', 'Storage configuration failed:', '<img src=x onerror="document.title=1">', 'disk /dev/disk/by-path/pci-0000:00:04.0 not found'].join('\n');
  t.equal(await machine.callback(token, 'failed', log), 200);

  const page = await signedIn(t);
  await page.waitForSelector('tr[data-machine="bad-01"][data-state="failed"]');
  t.equal(await page.$eval('tbody tr', (tr) => tr.getAttribute('data-machine')), 'bad-01', 'the failed machine is the first row');
  t.match(await textOf(page, 'tr[data-machine="bad-01"]'), /✗ failed.*failed in installing/, 'failed, in words and a symbol, with its phase');

  await page.click('tr[data-machine="bad-01"] a');
  await page.waitForSelector('.failure');
  t.ok(await page.$eval('.failure', (f) => f.compareDocumentPosition(document.querySelector('table.timeline')!) & Node.DOCUMENT_POSITION_FOLLOWING), 'the failure comes before the timeline');
  t.match(await textOf(page, '.failure h2'), 'Failed in installing');
  t.match(await textOf(page, '.failure .reason'), 'the installer reported failure');
  t.match(await textOf(page, '.failure .hint'), /\w/, 'a hint');
  const shown = await page.$eval('.failure pre.log', (p) => p.textContent);
  t.equal(shown, log, 'the log tail, as the installer sent it');
  t.equal(await page.$('.failure img'), null, 'markup in the log is shown as text, never made into elements');
  t.not(await page.title(), '1', 'nor run');

  const status = (await api('GET', '/api/v1/machines/bad-01/progress')).json;
  t.equal(await textOf(page, '.failure .reason'), status.reason, 'the reason the API gives');
  t.equal(await textOf(page, '.failure .hint'), status.hint, 'and its hint');
  t.match(await textOf(page, 'table.history'), /✗ failed in installing/, 'the history shows the failed install');

  for (const width of [1280, 390]) {
    await page.setViewport({ width, height: 900 });
    await page.screenshot({ path: join(ARTIFACTS, `machine-failed-${width}.png`), fullPage: true });
  }
});

t.test('screenshots at 1280 px and 390 px; nothing wider than a phone at 390 px', async (t) => {
  for (const width of [1280, 390]) {
    const page = await signedIn(t, '#/', width);
    await page.waitForSelector('tr[data-machine="rf-01"][data-state="ready"]');
    t.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), `no horizontal scrolling at ${width} px`);
    await page.screenshot({ path: join(ARTIFACTS, `machines-${width}.png`), fullPage: width === 390 });
  }
});

t.test('the session cookie alone does not change anything: a POST without the CSRF token is refused', async (t) => {
  const page = await signedIn(t);
  const call = (path: string, headers: Record<string, string> = {}) =>
    page.evaluate(async (path, headers) => (await fetch(path, { method: 'POST', headers })).status, path, headers);
  const csrf = await page.evaluate(async () => (await (await fetch('/ui/session')).json()).csrf as string);
  t.equal(await page.evaluate(async () => (await fetch('/api/v1/machines/util-01/progress')).status), 200, 'the cookie is enough to read');
  t.equal(await call('/api/v1/machines/util-01/reinstall'), 403, 'a POST without the CSRF token is refused');
  t.equal(await call('/api/v1/machines/util-01/reinstall', { 'x-csrf-token': csrf.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')) }), 403, 'and with a wrong one');
  t.equal((await api('GET', '/api/v1/machines/util-01')).json.state, 'registered', 'nothing happened');

  // The same from outside the browser: the cookie, as a forged cross-site form would send it.
  const [cookie] = await page.cookies();
  const post = (headers: Record<string, string>) => fetch(`${base}/api/v1/machines/util-01/cancel`, { method: 'POST', headers: { cookie: `${cookie.name}=${cookie.value}`, ...headers } });
  const refused = await post({ 'content-type': 'application/x-www-form-urlencoded' });
  t.equal(refused.status, 403);
  t.match(await refused.json(), { error: 'Forbidden', message: /CSRF/ });
  t.not((await post({ 'x-csrf-token': csrf })).status, 403, 'with the token the request reaches the route');
  t.equal((await fetch(`${base}/api/v1/machines`, { headers: { cookie: `${cookie.name}=${cookie.value.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'))}` } })).status, 401, 'a tampered cookie is no session');

  // Signing out needs the token too, and ends the session in this browser.
  t.equal(await page.evaluate(async () => (await fetch('/ui/session', { method: 'DELETE' })).status), 403, 'a forged sign-out is refused');
  await page.click('.bar button');
  await page.waitForSelector('#signin', { visible: true });
  t.same(await page.cookies(), [], 'signed out: the cookie is gone');
});

t.test("the console's HTTP side: pages under a script policy, revalidated; a bad sign-in body is a 400 naming the field", async (t) => {
  const index = await fetch(`${base}/ui/`);
  t.match(index.headers.get('content-security-policy'), /script-src 'self' 'sha256-[A-Za-z0-9+/=]+';.*frame-ancestors 'none'/);
  t.match(await index.text(), /<input id="token" name="token" type="password"/, 'the sign-in form is in the page itself');
  t.equal((await fetch(`${base}/ui/`, { headers: { 'if-none-match': index.headers.get('etag')! } })).status, 304);
  t.match((await fetch(`${base}/ui/vendor/preact.js`)).headers.get('content-type'), 'text/javascript');
  t.equal((await fetch(`${base}/ui/no-such.js`)).status, 404);

  const res = await fetch(`${base}/ui/session`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify({ tok: 'x' }) });
  t.equal(res.status, 400);
  t.match(await res.json(), { issues: [{ path: 'token' }] });
  // A form posted without the page's script: a redirect to the form with a message, the token only ever in the body.
  const form = await fetch(`${base}/ui/session`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'token=wrong-token-here', redirect: 'manual' });
  t.equal(form.status, 303);
  t.equal(form.headers.get('location'), '/ui/?signin=refused');
  const ok = await fetch(`${base}/ui/session`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token: TOKEN }), redirect: 'manual' });
  t.equal(ok.status, 303);
  t.equal(ok.headers.get('location'), '/ui/');
  t.match(ok.headers.get('set-cookie'), /^kickstand_session=[^;]+; Path=\/; Expires=[^;]+; HttpOnly; SameSite=Strict$/);
});

t.test('filters by state and text; every control has a label; it works by keyboard', async (t) => {
  const page = await signedIn(t);
  const names = () => page.$$eval('tbody tr[data-machine]', (trs) => trs.map((tr) => tr.getAttribute('data-machine')));
  // The list re-renders after the input event, a moment later: the rows once they are these (or
  // what they are after 5 s, for the assertion to show).
  const shown = async (want: string[]) => {
    await page
      .waitForFunction((w) => JSON.stringify([...document.querySelectorAll('tbody tr[data-machine]')].map((tr) => tr.getAttribute('data-machine'))) === w, { timeout: 5_000 }, JSON.stringify(want))
      .catch(() => undefined);
    return names();
  };
  await page.select('select', 'failed');
  t.same(await shown(['bad-01']), ['bad-01'], 'state: failed');
  await page.select('select', '');
  await page.type('input[type=search]', 'WEB');
  t.same(await shown(['web-01']), ['web-01'], 'text, any case');
  // Cleared as a person would clear it, with the input event: a value set silently was put back
  // to "WEB" by a re-render (a live event) before the typing, once (filtering on "WEBc0:11:01").
  await page.click('input[type=search]', { count: 3 });
  await page.keyboard.press('Backspace');
  await page.waitForFunction(() => document.querySelectorAll('tbody tr[data-machine="rf-01"], tbody tr[data-machine="web-01"]').length === 2, { timeout: 5_000 }).catch(() => undefined);
  const all = await names();
  t.ok(all.includes('rf-01') && all.includes('web-01'), 'cleared: every machine again');
  await page.type('input[type=search]', 'c0:11:01');
  t.same(await shown(['rf-01']), ['rf-01'], 'a MAC fragment');
  await page.type('input[type=search]', 'x');
  t.same(await shown([]), [], 'nothing');
  t.match(await textOf(page, 'main'), 'No machine matches.');

  const unlabelled = await page.evaluate(() =>
    [...document.querySelectorAll('#app input, #app select, #app button, #app progress')]
      .filter((el) => !(el as HTMLInputElement).labels?.length && !el.getAttribute('aria-label') && !(el as HTMLElement).innerText?.trim())
      .map((el) => el.outerHTML),
  );
  t.same(unlabelled, [], 'every control has a label or text');

  // From the search box, Tab reaches the rows' links; Enter opens a machine; its reinstall asks first, and Escape keeps the machine.
  await page.$eval('input[type=search]', (i) => ((i as HTMLInputElement).value = ''));
  await page.type('input[type=search]', 'util');
  await page.keyboard.press('Tab');
  t.equal(await page.evaluate(() => document.activeElement?.textContent), 'util-01', 'Tab goes from the search to the first row');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#machine-title');
  t.match(await textOf(page, '#machine-title'), 'util-01');
  await page.focus('.actions button');
  await page.keyboard.press('Enter');
  await page.waitForSelector('dialog[open]');
  t.equal(await page.evaluate(() => document.activeElement?.textContent), 'Keep it', 'the safe choice has the focus');
  await page.keyboard.press('Escape');
  await page.waitForSelector('dialog:not([open])');
  t.equal((await api('GET', '/api/v1/machines/util-01')).json.state, 'registered', 'Escape started nothing');
});

t.test('discovered machines: the rule verdicts, and accept with a profile from the list', async (t) => {
  t.equal((await api('POST', '/api/v1/profiles', minimalProfile('p1'))).status, 201);
  const script = await (await fetch(`${base}/boot/ipxe?mac=${DISCOVERED_MAC}`)).text();
  const token = /token=([A-Za-z0-9_-]+)/.exec(script)![1];
  const reported = await fetch(`${base}/boot/inventory?token=${token}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(report({}, [DISCOVERED_MAC])) });
  t.equal(reported.status, 200);

  const page = await signedIn(t, '#/discovered');
  await page.waitForSelector('article.discovered .verdicts');
  const entry = await textOf(page, 'article.discovered');
  t.match(entry, DISCOVERED_MAC, 'its MACs');
  t.match(entry, /r640-web \(priority 100\): does not match — system\.manufacturer is "QEMU", not In \[Dell Inc\.\]/, 'the example rule, and why it does not match');
  t.same(await page.$$eval('form.accept select option', (os) => os.map((o) => (o as HTMLOptionElement).value).filter(Boolean).sort()), ['fcos-edge', 'p1', 'r640-raid1-bond', 'small-bios', 'uefi1'], 'the profiles to choose from');

  for (const width of [390, 1280]) {
    await page.setViewport({ width, height: 900 });
    await page.screenshot({ path: join(ARTIFACTS, `discovered-${width}.png`), fullPage: true });
  }
  await page.type('form.accept input:not([type])', 'disc-01');
  await page.select('form.accept select', 'uefi1');
  t.notOk(await page.$eval('form.accept input[type=checkbox]', (c) => (c as HTMLInputElement).checked), 'installing it is a choice, as in the API');
  await page.click('form.accept button[type=submit]');
  await page.waitForFunction(() => /Refused/.test(document.querySelector('article.discovered [role=status]')?.textContent ?? ''));
  t.match(await textOf(page, 'article.discovered [role=status]'), /Refused: .*firmware/i, 'a profile that does not fit is refused, saying why');
  await page.select('form.accept select', 'p1');
  await page.click('form.accept button[type=submit]');
  await page.waitForFunction(() => /Accepted/.test(document.querySelector('article.discovered [role=status]')?.textContent ?? ''));
  t.match(await textOf(page, 'article.discovered [role=status]'), 'Accepted as disc-01.');
  t.match((await api('GET', '/api/v1/machines/disc-01')).json, { profile: 'p1', macs: [DISCOVERED_MAC] });
});

t.test('machine page: hardware facts, what it is served (as the API previews it), converge plan and audit', async (t) => {
  const page = await signedIn(t, '#/machines/disc-01');
  await page.waitForSelector('#hardware-title + p time');
  const hardware = await page.$eval('#hardware-title', (h) => (h.parentElement as HTMLElement).innerText);
  t.match(hardware, /Reported by discovery/);
  t.match(hardware, /QEMU, Standard PC \(Q35 \+ ICH9, 2009\), serial KS-0001/);
  t.match(hardware, /Memory\s+2\.0 GiB/);
  t.match(hardware, /vda\s+20 GiB/);
  t.match(hardware, new RegExp(`eth0\\s+${DISCOVERED_MAC}\\s+1000 Mb/s\\s+up\\s+sw-a3 Ethernet1/1`));

  await page.click('details[data-render=kickstart] summary');
  await page.waitForFunction(() => !/Loading/.test(document.querySelector('details[data-render=kickstart] pre')!.textContent!));
  t.equal(await page.$eval('details[data-render=kickstart] pre', (p) => p.textContent), (await api('GET', '/api/v1/machines/disc-01/render/kickstart')).text, 'the kickstart preview, as the API renders it');
  await page.click('details[data-render=ipxe] summary');
  await page.waitForFunction(() => /PREVIEW-TOKEN/.test(document.querySelector('details[data-render=ipxe] pre')!.textContent!));

  await page.evaluate(() => (location.hash = '#/machines/edge-01'));
  await page.waitForSelector('details[data-render=ignition]', { timeout: 5000 });
  t.match(await textOf(page, 'details[data-render=ignition] summary'), 'Ignition config', 'an fcos profile shows its Ignition');

  // A converge needs the host key an install reported: bad-01's never came, and the page says so.
  const audit = async (name: string) => {
    await page.evaluate((n) => (location.hash = `#/machines/${n}`), name);
    await page.waitForFunction((n) => document.querySelector('#machine-title')?.textContent?.startsWith(n), {}, name);
    await page.click('#converge-title ~ button:last-of-type');
    await page.waitForFunction(() => /done|refused/.test(document.querySelector('.notice')?.textContent ?? ''));
    return textOf(page, '.notice');
  };
  t.match(await audit('bad-01'), 'Converge audit refused: bad-01 has no host key reported by an install');
  t.equal(await audit('rf-01'), 'Converge audit: done');
  t.match(await textOf(page, '.converge-report'), /^audit: ok/, 'the audit result');
});

t.test('cancel from the machine page: the install stops, failed with the reason, at the top of the page', async (t) => {
  t.equal((await api('POST', '/api/v1/machines/edge-01/reinstall')).status, 202);
  const page = await signedIn(t, '#/machines/edge-01');
  await page.waitForSelector('#machine-title .badge.active');
  const cancel = await page.waitForSelector('.actions button:nth-of-type(2):not([disabled])');
  t.match(await cancel!.evaluate((b) => b.textContent), 'Cancel install');
  await cancel!.click();
  await page.waitForSelector('.failure');
  t.match(await textOf(page, '.failure .reason'), 'cancelled by the operator');
  t.match((await api('GET', '/api/v1/machines/edge-01/progress')).json, { state: 'failed', reason: 'cancelled by the operator' });
  t.ok(await page.$('.actions button:nth-of-type(2)[disabled]'), 'nothing left to cancel');
});
