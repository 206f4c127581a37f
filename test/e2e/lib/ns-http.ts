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

export type NsHttp = (method: string, path: string, opts?: { token?: string; body?: unknown }) => Promise<HttpAnswer>;

/** An HTTP client for a server listening on host:port inside `ns` (through a unix-socket relay). */
export async function nsHttp(ns: Netns, host: string, port: number): Promise<NsHttp> {
  const socketPath = join(ns.workDir, `http-${host}-${port}.sock`);
  const child = ns.spawn(process.execPath, ['--import', 'tsx', FORWARDER, socketPath, host, String(port)], { cwd: REPO_ROOT });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('unix relay did not start')), 20_000);
    child.stdout!.once('data', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  return (method, path, opts = {}) =>
    new Promise((resolve, reject) => {
      const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
      const headers: Record<string, string> = { host: `${host}:${port}` };
      if (opts.token) headers.authorization = `Bearer ${opts.token}`;
      if (body !== undefined) headers['content-type'] = 'application/json';
      const req = request({ socketPath, method, path, headers }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () => {
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, text, json });
        });
      });
      req.on('error', reject);
      req.end(body);
    });
}
