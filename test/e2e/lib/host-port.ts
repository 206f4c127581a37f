import { connect, createServer } from 'node:net';
import type { Netns } from './netns.js';
import { unixRelay } from './ns-http.js';
import { splice } from './splice.js';

/**
 * A port on this host's loopback that reaches host:port inside `ns`: how a browser outside the
 * namespace opens the web console of the kickstand inside it. Asks for `want` and takes any free
 * port when that one is taken.
 */
export async function hostPort(ns: Netns, host: string, port: number, want: number): Promise<{ port: number; close(): void }> {
  const socketPath = await unixRelay(ns, host, port);
  const server = createServer((client) => splice(client, connect(socketPath)));
  const listen = (p: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(p, '127.0.0.1', () => resolve());
    });
  await listen(want).catch(() => listen(0));
  return { port: (server.address() as { port: number }).port, close: () => server.close() };
}
