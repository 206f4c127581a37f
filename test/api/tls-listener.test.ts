/** The operator API on its own HTTPS listener; /boot stays plain HTTP on http.port. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { startTestService } from '../helpers/service.js';

function httpsGet(port: number, path: string, ca: Buffer, token?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, ca, servername: 'localhost', headers: token ? { authorization: `Bearer ${token}` } : {} }, (res) => {
      res.resume();
      resolve(res.statusCode!);
    });
    req.on('error', reject);
    req.end();
  });
}

t.test('api.listen with api.tls: the API over HTTPS there, only /boot on http.port', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ks-tls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
  const ca = readFileSync(join(dir, 'cert.pem'));
  const { svc, base, config } = await startTestService(t, {
    config: { api: { token: 'test-token-0123456789abcdef', listen: { host: '127.0.0.1', port: 0 }, tls: { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') } } },
  });
  t.not(svc.apiPort, svc.port);
  t.equal(await httpsGet(svc.apiPort, '/api/v1/machines', ca, config.api.token), 200, 'the API answers over HTTPS with the token');
  t.equal(await httpsGet(svc.apiPort, '/api/v1/machines', ca), 401, 'and still wants it');
  t.equal(await httpsGet(svc.apiPort, '/docs/json', ca), 200, 'the OpenAPI document is there');
  t.equal(await httpsGet(svc.apiPort, '/boot/ipxe?mac=52:54:00:00:00:01', ca), 404, 'the API listener serves no /boot');
  t.equal((await fetch(`${base}/api/v1/machines`, { headers: { authorization: `Bearer ${config.api.token}` } })).status, 404, 'no API on the plain listener');
  t.equal((await fetch(`${base}/boot/ipxe?mac=52:54:00:00:00:01`)).status, 200, '/boot over plain HTTP for firmware');
  t.equal((await fetch(`${base}/healthz`)).status, 200);

  // The web console lives with the API: over HTTPS its session cookie is Secure.
  const signIn = await new Promise<string | undefined>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: svc.apiPort, path: '/ui/session', method: 'POST', ca, servername: 'localhost', headers: { 'content-type': 'application/x-www-form-urlencoded' } }, (res) => {
      res.resume();
      resolve(res.headers['set-cookie']?.[0]);
    });
    req.on('error', reject);
    req.end(`token=${config.api.token}`);
  });
  t.match(signIn, /; HttpOnly; SameSite=Strict; Secure$/);
  t.equal(await httpsGet(svc.apiPort, '/ui/', ca), 200, 'the console is on the API listener');
  t.equal((await fetch(`${base}/ui/`)).status, 404, 'not on the plain one');
});

t.test('api.tls without api.listen is refused by the config', async (t) => {
  await t.rejects(startTestService(t, { config: { api: { token: 'test-token-0123456789abcdef', tls: { cert: '/x', key: '/y' } } } }), /api.tls needs api.listen/);
});
