/**
 * The fake Redfish BMC as a process, for shell harnesses:
 *   npx tsx test/e2e/fake-bmc/serve.ts [--qmp SOCKET | --power on|off] [--port N] [--host A]
 *     [--user U] [--password P] [--http] [--cert-dir DIR] [--hang] [--refuse-auth]
 * Prints one JSON line {url, fingerprint, certFile} once listening; on SIGTERM/SIGINT it closes and
 * prints {boots, log} as a last JSON line, so a harness can assert what the BMC was asked to do.
 */
import { parseArgs } from 'node:util';
import { qmpBackend } from './qmp.js';
import { memoryBackend, startFakeBmc } from './redfish.js';

const { values: a } = parseArgs({
  options: {
    qmp: { type: 'string' },
    power: { type: 'string', default: 'off' },
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    user: { type: 'string', default: 'admin' },
    password: { type: 'string', default: 's3cret' },
    http: { type: 'boolean', default: false },
    'cert-dir': { type: 'string' },
    hang: { type: 'boolean', default: false },
    'refuse-auth': { type: 'boolean', default: false },
  },
});

const bmc = await startFakeBmc({
  backend: a.qmp ? qmpBackend(a.qmp) : memoryBackend(a.power === 'on' ? 'On' : 'Off'),
  port: Number(a.port),
  host: a.host,
  username: a.user,
  password: a.password,
  tls: !a.http,
  certDir: a['cert-dir'],
  hang: a.hang,
  refuseAuth: a['refuse-auth'],
});
console.log(JSON.stringify({ url: bmc.url, fingerprint: bmc.fingerprint, certFile: bmc.certFile }));

const stop = async () => {
  await bmc.close();
  console.log(JSON.stringify({ boots: bmc.boots, log: bmc.log }));
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
