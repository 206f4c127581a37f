/** The Host header becomes part of the URLs in scripts and kickstarts: only a plain host[:port] is taken. */
import { request } from 'node:http';
import t from 'tap';
import { minimalProfile } from '../helpers/fixtures.js';
import { startTestService } from '../helpers/service.js';

function get(port: number, path: string, host: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host, ...headers }, setHost: false }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

t.test('a Host that could break out of a URL gets 400 on /boot and on the render preview', async (t) => {
  const { svc, api, config } = await startTestService(t);
  await api('POST', '/api/v1/profiles', minimalProfile());
  await api('POST', '/api/v1/machines', { name: 'node-1', profile: 'p1', macs: ['52:54:00:ab:00:01'] });
  for (const host of ['k"x', "k'x", 'k x', 'k`id`', 'k/../x', 'k:80/x', 'k%0a', 'k;x', '${x}']) {
    t.equal((await get(svc.port, '/boot/ipxe?mac=52:54:00:ab:00:01', host)).status, 400, `/boot/ipxe with Host ${host}`);
    const r = await get(svc.port, '/api/v1/machines/node-1/render/ipxe', host, { authorization: `Bearer ${config.api.token}` });
    t.equal(r.status, 400, `render with Host ${host}`);
  }
  for (const host of ['10.0.0.1:8080', 'kickstand.example.com', '[fe80::1]:8080']) {
    const r = await get(svc.port, '/boot/ipxe?mac=52:54:00:ab:00:01', host);
    t.equal(r.status, 200, host);
  }
});
