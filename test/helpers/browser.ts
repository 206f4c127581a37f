import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import type { Test } from 'tap';

/** Where the console tests leave their screenshots (gitignored). */
export const ARTIFACTS = fileURLToPath(new URL('../artifacts/ui/', import.meta.url));

/**
 * Debian's chromium (test/peers.sh installs it), headless, driven by puppeteer-core, which never
 * downloads a browser of its own. --no-sandbox: the tests run as root, where chromium's sandbox
 * refuses to start. Closed with the test.
 */
export async function startBrowser(t: Test): Promise<Browser> {
  const browser = await puppeteer.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--no-first-run', '--disable-extensions'],
  });
  t.teardown(() => browser.close());
  mkdirSync(ARTIFACTS, { recursive: true });
  return browser;
}

/**
 * A page in a context of its own (its own cookies: signed out), failing the test on any script
 * error or console error, so a broken module (a typo, a CSP refusal) cannot pass as "the
 * element did not show up yet". Closed with the test.
 */
export async function openPage(t: Test, browser: Browser, width = 1280, height = 900): Promise<Page> {
  const context = await browser.createBrowserContext();
  t.teardown(() => context.close());
  const page = await context.newPage();
  await page.setViewport({ width, height });
  page.setDefaultTimeout(10_000);
  page.on('pageerror', (err) => t.fail(`script error in the page: ${(err as Error).message}`));
  page.on('console', (msg) => {
    // A refused sign-in or an expected 403/404 shows as a failed resource load: those are answers, not faults.
    if (msg.type() === 'error' && !/Failed to load resource/.test(msg.text())) t.fail(`console error: ${msg.text()}`);
  });
  return page;
}

/** The text of the element matching `selector`, whitespace collapsed. */
export const textOf = (page: Page, selector: string) => page.$eval(selector, (el) => (el as HTMLElement).innerText.replace(/\s+/g, ' ').trim());
