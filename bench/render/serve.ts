/**
 * Runs kickstand for the kickstart benchmark: `tsx bench/render/serve.ts DATADIR`.
 * The example inventory plus `bench-01`, a copy of web-01 with a manual BMC (web-01's Redfish
 * address is not on loopback), put into an install. Prints one JSON line:
 * { port, url, bytes } — url is the kickstart URL with the install token, bytes its size.
 * Logs at warn: request logging would measure the terminal, not kickstand.
 */
import { join, resolve } from 'node:path';
import { Config } from '../../server/config/schema.js';
import { createLogger } from '../../server/log.js';
import { startService } from '../../server/main.js';

const [dataDir] = process.argv.slice(2);
if (!dataDir) {
  console.error('usage: serve.ts DATADIR');
  process.exit(2);
}
const repo = resolve(import.meta.dirname, '../..');
const config = Config.parse({
  dataDir,
  inventory: join(repo, 'machines'),
  templatesDir: join(repo, 'templates'),
  ignitionDir: join(repo, 'ignition'),
  http: { host: '127.0.0.1', port: 0 },
  tftp: { enabled: false },
  assets: { dir: join(dataDir, 'assets') },
  log: { level: 'warn' },
});
const logger = createLogger({ level: 'warn' });
const svc = await startService(config, logger);

const web = (await svc.reads.machine('web-01'))!;
const name = 'bench-01';
await svc.inventory.putMachine({
  ...web,
  name,
  macs: ['52:54:00:be:0c:01', '52:54:00:be:0c:02'],
  nics: { data0: '52:54:00:be:0c:01', data1: '52:54:00:be:0c:02' },
  bmc: { driver: 'manual', tls: { verify: true }, timeoutSeconds: 20, auth: 'session' },
});
await svc.lifecycle.reinstall(name);
await svc.lifecycle.idle();
const token = (await svc.installs.installToken(name))!.token;
const url = `http://127.0.0.1:${svc.port}/boot/kickstart?token=${token}`;
// One fetch first: it moves the machine to installing, the steady state of a kickstart fetch.
const res = await fetch(url);
const body = await res.text();
if (res.status !== 200) throw new Error(`kickstart fetch: ${res.status} ${body}`);
await svc.lifecycle.idle();
console.log(JSON.stringify({ port: svc.port, url, bytes: Buffer.byteLength(body), state: (await svc.reads.status(name))!.state }));
process.on('SIGTERM', () => void svc.close().then(() => process.exit(0)));
