/**
 * Runs kickstand for the boot-asset benchmark: `tsx bench/http/serve.ts DATADIR ASSETS_DIR`.
 * ASSETS_DIR holds rocky-9/vmlinuz and rocky-9/initrd.img; both are declared in config with their
 * sha256, as in production (checked at start-up). Prints one JSON line {port} when ready.
 * Logs at warn: request logging would measure the terminal, not kickstand.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { Config } from '../../server/config/schema.js';
import { createLogger } from '../../server/log.js';
import { startService } from '../../server/main.js';

const [dataDir, assetsDir] = process.argv.slice(2);
if (!dataDir || !assetsDir) {
  console.error('usage: serve.ts DATADIR ASSETS_DIR');
  process.exit(2);
}
async function sha256(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}
const files: Record<string, { path: string; sha256: string }> = {};
for (const [name, path] of [['rocky-9/vmlinuz', 'rocky-9/vmlinuz'], ['rocky-9/initrd', 'rocky-9/initrd.img']])
  files[name] = { path, sha256: await sha256(join(assetsDir, path)) };
const config = Config.parse({
  dataDir,
  inventory: join(dataDir, 'no-inventory'),
  http: { host: '127.0.0.1', port: 0 },
  tftp: { enabled: false },
  assets: { dir: assetsDir, files },
  log: { level: 'warn' },
});
const svc = await startService(config, createLogger({ level: 'warn' }));
console.log(JSON.stringify({ port: svc.port }));
process.on('SIGTERM', () => void svc.close().then(() => process.exit(0)));
