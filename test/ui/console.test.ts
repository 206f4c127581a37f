import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import t from 'tap';
import type { Page } from 'puppeteer-core';
import { memoryBackend, startFakeBmc } from '../e2e/fake-bmc/redfish.js';
import { minimalProfile } from '../helpers/fixtures.js';
import { startTestService } from '../helpers/service.js';
import { ARTIFACTS, openPage, startBrowser, textOf } from './browser.js';

/**
 * The web console in a real headless Chromium, against a real service: the example inventory
 * (machines/), a machine behind the test Redfish BMC, and installs driven by the machine side's
 * own HTTP requests (iPXE script, kickstart, callbacks) as an installer makes them.
 */

const EXAMPLES = fileURLToPath(new URL('../../machines/', import.meta.url));
const RF_MAC = '52:54:00:c0:11:01';
const BAD_MAC = '52:54:00:c0:11:02';

const backend = memoryBackend('Off');
const bmc = await startFakeBmc({ backend, password: 'bmc-pass-123' });
t.teardown(() => bmc.close());
const { base, api, config, logs } = await startTestService(t, { inventory: EXAMPLES });
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
  await page.close();
});
