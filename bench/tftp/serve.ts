/**
 * Runs kickstand's TFTP server alone for benchmarks: `tsx bench/tftp/serve.ts ROOT PORT`.
 * Events go nowhere, as with the other servers in the comparison.
 */
import { startTftpServer } from '../../server/tftp/server.js';

const [root, port] = process.argv.slice(2);
if (!root || !port) {
  console.error('usage: serve.ts ROOT PORT');
  process.exit(2);
}
const server = await startTftpServer({
  root,
  host: '127.0.0.1',
  port: Number(port),
  maxTransfers: 256,
  maxTransfersPerAddress: 256,
  sink: { report: () => {} },
});
console.log(`listening on 127.0.0.1:${server.port}`);
process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
