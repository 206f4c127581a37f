/** The operator API token: never empty, never weak, written atomically, parsed strictly. */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { Config } from '../../server/config/schema.js';
import { createLogger } from '../../server/log.js';
import { startService } from '../../server/main.js';
import { echoRenderers, logCapture } from '../helpers/service.js';

async function start(t: Test, dataDir: string, token?: string) {
  const config = Config.parse({ dataDir, inventory: join(dataDir, 'none'), http: { host: '127.0.0.1', port: 0 }, tftp: { enabled: false }, ...(token ? { api: { token } } : {}) });
  return startService(config, createLogger({ level: 'silent', destination: logCapture().destination }), { renderers: () => echoRenderers }).then((svc) => {
    t.teardown(() => svc.close());
    return svc;
  });
}

/** A raw request, so the Authorization header goes out exactly as written. */
function get(port: number, authorization: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/api/v1/machines', headers: { authorization } }, (res) => {
      res.resume();
      resolve(res.statusCode!);
    });
    req.on('error', reject);
    req.end();
  });
}

t.test('an empty, blank or short api-token file refuses the start, naming the file', async (t) => {
  for (const content of ['', '\n', ' \u00a0 \n', 'short-token-15c', 'has a space in it 0123456789']) {
    const dir = mkdtempSync(join(tmpdir(), 'ks-token-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'api-token'), content);
    await t.rejects(start(t, dir), { message: new RegExp(`${join(dir, 'api-token')}: the API token must be at least 16 characters`) }, JSON.stringify(content));
  }
});

t.test('a generated token is written 0600, whole, with no temp file left; it opens the API', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ks-token-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const svc = await start(t, dir);
  const file = join(dir, 'api-token');
  t.equal(statSync(file).mode & 0o777, 0o600);
  const token = readFileSync(file, 'utf8');
  t.match(token, /^[A-Za-z0-9_-]{32}\n$/);
  t.same(readdirSync(dir).filter((f) => f.includes('tmp')), [], 'no temp file');
  t.equal(svc.apiTokenFile, file);
  t.equal(await get(svc.port, `Bearer ${token.trim()}`), 200);
});

t.test('Authorization is parsed strictly', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ks-token-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const token = 'Abc-def_ghi.jkl~mno+pqr/stu==';
  const svc = await start(t, dir, token);
  t.equal(await get(svc.port, `Bearer ${token}`), 200);
  t.equal(await get(svc.port, `bearer ${token}`), 200, 'the scheme is case-insensitive (RFC 7235)');
  for (const bad of [`Bearer  ${token}`, `Bearer\t${token}`, `Bearer ${token}, Bearer x`, `Bearer "${token}"`, `Basic ${token}`, `Bearer ${token}x`, 'Bearer \u00a0', `${token}`])
    t.equal(await get(svc.port, bad), 401, JSON.stringify(bad));
  await t.rejects(start(t, dir, 'only-fifteen-ch'), /at least 16 characters/, 'a short configured token is refused by the config');
});
