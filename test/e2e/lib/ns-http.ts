import { request } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Netns } from './netns.js';

const FORWARDER = fileURLToPath(new URL('./unix-forward-main.ts', import.meta.url));
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export interface HttpAnswer {
  status: number;
  text: string;
  json: any;
}

export interface NsHttpOptions {
  token?: string;
  body?: unknown;
  /**
   * For a response that does not end by itself (Server-Sent Events): stop reading after this many
   * milliseconds and answer with what came until then. Without it, the answer waits for the end.
   */
  readForMs?: number;
}

export type NsHttp = (method: string, path: string, opts?: NsHttpOptions) => Promise<HttpAnswer>;

let relays = 0;

/** A unix socket outside `ns` that reaches host:port inside it (a relay running in the namespace). */
export async function unixRelay(ns: Netns, host: string, port: number): Promise<string> {
  // One socket per relay: a test's client and the demo's console port may reach the same server.
  const socketPath = join(ns.workDir, `http-${host}-${port}-${++relays}.sock`);
  const child = ns.spawn(process.execPath, ['--import', 'tsx', FORWARDER, socketPath, host, String(port)], { cwd: REPO_ROOT });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('unix relay did not start')), 20_000);
    child.stdout!.once('data', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  return socketPath;
}

/** An HTTP client for a server listening on host:port inside `ns` (through a unix-socket relay). */
export async function nsHttp(ns: Netns, host: string, port: number): Promise<NsHttp> {
  const socketPath = await unixRelay(ns, host, port);
  return (method, path, opts = {}) =>
    new Promise((resolve, reject) => {
      const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
      const headers: Record<string, string> = { host: `${host}:${port}` };
      if (opts.token) headers.authorization = `Bearer ${opts.token}`;
      if (body !== undefined) headers['content-type'] = 'application/json';
      let cut = false;
      const req = request({ socketPath, method, path, headers }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        const done = () => {
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, text, json });
        };
        const timer =
          opts.readForMs === undefined
            ? undefined
            : setTimeout(() => {
                cut = true;
                done();
                req.destroy();
              }, opts.readForMs);
        res.on('end', () => {
          clearTimeout(timer);
          done();
        });
      });
      req.on('error', (err) => {
        if (!cut) reject(err);
      });
      req.end(body);
    });
}
