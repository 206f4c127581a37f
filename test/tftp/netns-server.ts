/**
 * Runs the TFTP server inside a network namespace for a test (`ip netns exec NS node --import tsx
 * netns-server.ts HOST ROOT SYMLINK_DIR`): prints "ready", then every event as one JSON line.
 * boot.ipxe is generated: an iPXE script that prints a marker and powers off.
 */
import { startTftpServer } from '../../server/tftp/server.js';

const [host, root, symlinkDir] = process.argv.slice(2);
const script = '#!ipxe\necho KS-TFTP-SCRIPT-OK ${net0/mac} ${platform}\npoweroff\n';
await startTftpServer({
  root,
  symlinkDirs: [symlinkDir],
  host,
  port: 69,
  maxTransfers: 16,
  maxTransfersPerAddress: 16,
  generate: async (path) => (path === 'boot.ipxe' ? Buffer.from(script) : undefined),
  sink: { report: (event) => console.log(JSON.stringify(event)) },
});
console.log('ready');
