/**
 * An open SSE connection to GET /api/v1/events of a server inside a namespace, through a
 * unix-socket relay of its own (as ns-http.ts reaches the API): the events so far, each with the
 * time it arrived, a wait for a condition on them, and close. The same reader as
 * test/helpers/sse.ts, for a server the test process cannot reach over TCP.
 */
import { request, type ClientRequest } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StoredEvent } from '../../../server/model/events.js';
import { eventWaits, sseParser } from '../../helpers/sse.js';
import type { Netns } from './netns.js';

const FORWARDER = fileURLToPath(new URL('./unix-forward-main.ts', import.meta.url));
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export interface NsStream {
  events: StoredEvent[];
  /** When each event arrived (Date.now()), by index. */
  arrivedAt: number[];
  /** Whether the server ended the stream (or the connection broke). */
  ended(): boolean;
  /** Resolves true once pred holds, false after ms. */
  until(pred: (events: StoredEvent[]) => boolean, ms: number): Promise<boolean>;
  close(): void;
}

export async function openNsStream(ns: Netns, host: string, port: number, opts: { token: string; query?: string }): Promise<NsStream> {
  const socketPath = join(ns.workDir, `sse-${host}-${port}.sock`);
  const relay = ns.spawn(process.execPath, ['--import', 'tsx', FORWARDER, socketPath, host, String(port)], { cwd: REPO_ROOT });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('unix relay did not start')), 20_000);
    relay.stdout!.once('data', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  const events: StoredEvent[] = [];
  const arrivedAt: number[] = [];
  const waits = eventWaits(events);
  let done = false;
  let req: ClientRequest | undefined;
  await new Promise<void>((resolve, reject) => {
    req = request({ socketPath, path: `/api/v1/events?${opts.query ?? ''}`, headers: { host: `${host}:${port}`, authorization: `Bearer ${opts.token}` } }, (res) => {
      if (res.statusCode !== 200) reject(new Error(`GET /api/v1/events: HTTP ${res.statusCode}`));
      const parse = sseParser((e) => {
        events.push(e);
        arrivedAt.push(Date.now());
      });
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        parse(chunk);
        waits.arrived();
      });
      res.on('close', () => (done = true));
      resolve();
    });
    req.on('error', (err) => {
      done = true;
      if (!req!.destroyed) reject(err);
    });
    req.end();
  });
  return {
    events,
    arrivedAt,
    ended: () => done,
    until: waits.until,
    close: () => {
      req?.destroy();
      relay.kill('SIGTERM');
    },
  };
}
