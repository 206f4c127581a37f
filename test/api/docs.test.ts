import { get } from 'node:http';
import { createRequire } from 'node:module';
import t from 'tap';
import { startBrowser, openPage } from '../helpers/browser.js';
import { startTestService } from '../helpers/service.js';

/** Whether @fastify/swagger-ui (a CommonJS package) has been loaded into this process. */
const swaggerUiLoaded = () => Object.keys(createRequire(import.meta.url).cache).some((f) => f.includes('/@fastify/swagger-ui/'));

t.test('/docs: Swagger UI loaded on the first request for it, and working in a browser', async (t) => {
  const { api, base } = await startTestService(t);
  t.notOk(swaggerUiLoaded(), 'not loaded at start');

  const spec = await api('GET', '/docs/json', undefined, null);
  t.equal(spec.status, 200);
  t.ok(spec.json.paths['/api/v1/machines'], 'the OpenAPI document lists the operator routes');
  const yaml = await api('GET', '/docs/yaml', undefined, null);
  t.match(yaml.headers.get('content-type'), /yaml/);
  t.match(yaml.text, /^openapi: 3/m);
  t.notOk(swaggerUiLoaded(), 'the document needs no page');

  const browser = await startBrowser(t);
  const page = await openPage(t, browser);
  const failed: string[] = [];
  page.on('response', (r) => r.status() >= 400 && failed.push(`${r.status()} ${r.url()}`));
  for (const path of ['/docs', '/docs/']) {
    await page.goto(`${base}${path}`);
    // Swagger UI fetched its scripts and styles, then the document, and lists its operations.
    await page.waitForSelector('.opblock-summary-path[data-path="/api/v1/machines/{name}/reinstall"]');
    t.match(await page.$eval('.info .title', (e) => (e as HTMLElement).innerText), /kickstand/, `${path}: the document's title`);
  }
  t.same(failed, [], 'every file the page asked for was there');
  t.ok(swaggerUiLoaded(), 'loaded once asked for');

  const css = await fetch(`${base}/docs/static/swagger-ui.css`);
  t.equal(css.status, 200);
  t.match(css.headers.get('content-type'), /^text\/css/);
  // node:http, not fetch: fetch adds cache-control: no-cache to a conditional request.
  const again = await new Promise<number | undefined>((resolve, reject) =>
    get(`${base}/docs/static/swagger-ui.css`, { headers: { 'if-none-match': css.headers.get('etag')! } }, (res) => resolve(res.resume().statusCode)).on('error', reject),
  );
  t.equal(again, 304, 'its files revalidate by ETag (the request headers are handed on)');
  t.equal((await fetch(`${base}/docs/static/%2e%2e/%2e%2e/package.json`)).status, 404, 'nothing outside its files');
  t.equal((await fetch(`${base}/docs/static/nope.js`)).status, 404);
});
