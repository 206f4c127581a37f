import { type ClientRequest, get } from 'node:http';
import type { StoredEvent } from '../../server/model/events.js';

/**
 * An open SSE connection to GET /api/v1/events (the API token's bearer header): the events so
 * far, a wait for a condition on them, and close.
 */
/** Feeds an SSE text stream chunk by chunk; each event's data, parsed, goes to onEvent. */
export function sseParser(onEvent: (e: StoredEvent) => void): (chunk: string) => void {
  let text = '';
  return (chunk) => {
    text += chunk;
    const blocks = text.split('\n\n');
    text = blocks.pop()!;
    for (const b of blocks) {
      const data = b.split('\n').find((l) => l.startsWith('data: '));
      if (data) onEvent(JSON.parse(data.slice(6)) as StoredEvent);
    }
  };
}

/** Waits on a growing list of events: until(pred, ms) resolves true once pred holds, false after ms; arrived() after each change. */
export function eventWaits(events: StoredEvent[]) {
  const waiters = new Set<() => void>();
  return {
    arrived: () => [...waiters].forEach((w) => w()),
    until(pred: (events: StoredEvent[]) => boolean, ms = 2_000): Promise<boolean> {
      return new Promise((resolve) => {
        const check = () => {
          if (!pred(events)) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(true);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          resolve(false);
        }, ms);
        waiters.add(check);
        check();
      });
    },
  };
}

export function openStream(base: string, opts: { token: string; query?: string; lastEventId?: number }) {
  const events: StoredEvent[] = [];
  const waits = eventWaits(events);
  let req: ClientRequest | undefined;
  const opened = new Promise<void>((resolve, reject) => {
    const headers: Record<string, string> = { authorization: `Bearer ${opts.token}` };
    if (opts.lastEventId !== undefined) headers['last-event-id'] = String(opts.lastEventId);
    req = get(`${base}/api/v1/events?${opts.query ?? ''}`, { headers }, (res) => {
      const parse = sseParser((e) => events.push(e));
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        parse(chunk);
        waits.arrived();
      });
      resolve();
    });
    req.on('error', (err) => (req!.destroyed ? undefined : reject(err)));
  });
  return {
    events,
    opened,
    /** Resolves true once pred holds, false after ms. */
    until: waits.until,
    close: () => req?.destroy(),
  };
}


/** The events of one stream until `count` arrived or `ms` passed; then the connection is closed. */
export async function sseEvents(base: string, opts: { token: string; query?: string; count: number; ms?: number }): Promise<StoredEvent[]> {
  const stream = openStream(base, opts);
  await stream.opened;
  await stream.until((events) => events.length >= opts.count, opts.ms ?? 1_000);
  stream.close();
  return stream.events;
}
