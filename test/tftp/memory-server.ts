/**
 * A TFTP server alone in its own process, so a test can watch its memory from outside
 * (/proc/PID/status): `node --import tsx test/tftp/memory-server.ts ROOT [CACHE_MAX_FILE_BYTES]`.
 * Prints one JSON line {port, pid} when listening; stdin "stats" → {stats}. Events go nowhere.
 */
import { createInterface } from 'node:readline';
import { startTftpServer } from '../../server/tftp/server.js';

const [root, cacheMax] = process.argv.slice(2);
const server = await startTftpServer({
  root,
  host: '127.0.0.1',
  port: 0,
  maxTransfers: 256,
  maxTransfersPerAddress: 256,
  ...(cacheMax ? { cacheMaxFileBytes: Number(cacheMax) } : {}),
  sink: { report: () => {} },
});
const out = (o: unknown) => process.stdout.write(JSON.stringify(o) + '\n');
out({ port: server.port, pid: process.pid });
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() === 'stats') out({ stats: server.stats() });
});
process.stdin.on('end', () => void server.close().then(() => process.exit(0)));
process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
