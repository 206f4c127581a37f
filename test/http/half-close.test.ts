/**
 * A client that closes its sending side once its request is out (busybox nc, some minimal agents
 * in live images) still gets its answer, however long the answer takes: Node's HTTP server drops
 * such a request by default when the FIN arrives first.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { openSqliteStore } from '../../server/store/sqlite.js';
import { BOOT, discoverySetup } from '../helpers/discovery.js';
import { slowStore } from '../store/fakes/slow-store.js';

/** One HTTP/1.0 request, the socket half-closed right after it; everything the server sends back. */
function halfClosed(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.end(request));
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (d) => (answer += d));
    socket.on('close', () => resolve(answer));
    socket.on('error', reject);
  });
}

t.test('a half-closed request to a slow route is answered', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ks-half-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // Every store call 20 ms away: the script takes a few of them, so the FIN arrives first.
  const { svc } = await discoverySetup(t, {}, undefined, async () => slowStore(await openSqliteStore(join(dir, 'kickstand.db')), 20));
  const answer = await halfClosed(svc.port, `GET /boot/ipxe?mac=${BOOT} HTTP/1.0\r\nHost: 127.0.0.1:${svc.port}\r\n\r\n`);
  t.match(answer, /^HTTP\/1\.1 200 /, 'the status line came');
  t.match(answer, /# discover /, 'and the whole script');
});
