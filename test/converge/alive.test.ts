import { generateKeyPairSync } from 'node:crypto';
import t from 'tap';
import { answersWithPinnedKey } from '../../server/converge/alive.js';
import { freePort, hostWithKickstandKey } from './sshd-host.js';

/** A real sshd answering (or not) with the pinned host key decides whether the old box is alive. */
const { host, keys } = await hostWithKickstandKey(t);
const target = { host: '127.0.0.1', port: host.port, user: host.user, privateKey: keys.privateKey, pinnedHostKeys: [host.hostKey] };
const OTHER_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBBBm9Z6m3uVZb6xO9w5q0rQ2m6Hq1sY3S9m1k8a0bXc';

t.test('up with its pinned key: alive; a refused login after the handshake too', async (t) => {
  t.equal(await answersWithPinnedKey(target, 5000), true);
  const stranger = generateKeyPairSync('ed25519', { privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } }).privateKey;
  t.equal(await answersWithPinnedKey({ ...target, privateKey: stranger }, 5000), true, 'the host key proves the host, whatever the login');
});

t.test('another host key, nothing listening, no pinned key: not alive', async (t) => {
  t.equal(await answersWithPinnedKey({ ...target, pinnedHostKeys: [OTHER_KEY] }, 5000), false, 'a different box at the address');
  t.equal(await answersWithPinnedKey({ ...target, port: await freePort() }, 5000), false, 'connection refused');
  t.equal(await answersWithPinnedKey({ ...target, pinnedHostKeys: [] }, 5000), false, 'nothing was ever pinned');
  await host.stop();
  t.equal(await answersWithPinnedKey(target, 5000), false, 'sshd stopped: the host is down');
  await host.start();
  t.equal(await answersWithPinnedKey(target, 5000), true, 'and up again');
});
