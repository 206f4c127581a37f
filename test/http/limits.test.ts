/** Unauthenticated clients cannot hold kickstand's sockets: trickled requests time out, connections are capped. */
import { connect, type Socket } from 'node:net';
import t from 'tap';
import { startTestService } from '../helpers/service.js';

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
    s.on('error', reject);
  });
}
const closed = (s: Socket) => new Promise<{ at: number; data: string }>((resolve) => {
  let data = '';
  s.on('data', (d) => (data += d));
  s.on('close', () => resolve({ at: Date.now(), data }));
  s.on('error', () => {});
});

t.test('a trickled POST is cut off at the request timeout', async (t) => {
  const { svc } = await startTestService(t, { config: { http: { host: '127.0.0.1', port: 0, requestTimeoutSeconds: 2 } } });
  const s = await open(svc.port);
  const done = closed(s);
  const start = Date.now();
  s.write('POST /boot/callback/progress?token=x HTTP/1.1\r\nhost: k\r\ncontent-type: text/plain\r\ncontent-length: 100000\r\n\r\n');
  const trickle = setInterval(() => s.writable && s.write('a'), 300);
  t.teardown(() => clearInterval(trickle));
  const { at, data } = await done;
  t.ok(at - start < 6000, `closed after ${at - start} ms`);
  t.match(data, /^HTTP\/1.1 408/, 'told why');
});

t.test('connections beyond http.maxConnections are refused; the ones inside are served', async (t) => {
  const { svc, base } = await startTestService(t, { config: { http: { host: '127.0.0.1', port: 0, maxConnections: 4 } } });
  const held = await Promise.all([1, 2, 3, 4].map(() => open(svc.port)));
  t.teardown(() => held.forEach((s) => s.destroy()));
  const extra = await open(svc.port);
  const { data } = await closed(extra);
  t.equal(data, '', 'the fifth is closed at accept');
  held.pop()!.destroy();
  await new Promise((r) => setTimeout(r, 100));
  t.equal((await fetch(`${base}/healthz`)).status, 200, 'once one is free, requests go through');
});

t.test('an idle connection is closed after http.idleTimeoutSeconds', async (t) => {
  const { svc } = await startTestService(t, { config: { http: { host: '127.0.0.1', port: 0, idleTimeoutSeconds: 1 } } });
  const s = await open(svc.port);
  const start = Date.now();
  const { at } = await closed(s);
  t.ok(at - start < 4000, `closed after ${at - start} ms`);
});
