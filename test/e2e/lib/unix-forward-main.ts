/**
 * Relays a unix socket to a TCP address, run inside a test's network namespace: the test process
 * lives outside the namespace but can open a file, so this is how it reaches the API of a server
 * that listens only in the namespace. Usage: unix-forward-main.ts SOCKET HOST PORT
 */
import { connect, createServer } from 'node:net';
import { splice } from './splice.js';

const [socket, host, port] = process.argv.slice(2);
const server = createServer((client) => splice(client, connect(Number(port), host)));
server.listen(socket, () => process.stdout.write('listening\n'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
