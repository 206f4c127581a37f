// The API's event stream (GET /api/v1/events), read with fetch rather than EventSource: it
// resumes each connection from the last event it saw (Last-Event-ID), tells a signed-out
// session (401) from a dropped connection, and takes every event kind without listing them.
import { notSignedIn } from './api.js';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Follows events after `after` (optionally of one machine) until stop() is called, reconnecting
 * with backoff. onStatus: 'live' | 'reconnecting'. Events come to onEvent in id order, once each.
 */
export function followEvents({ after, machine, onEvent, onStatus }) {
  let last = after;
  let stopped = false;
  const abort = new AbortController();
  const once = async () => {
    const q = machine ? `?machine=${encodeURIComponent(machine)}` : '';
    const res = await fetch(`/api/v1/events${q}`, { headers: { accept: 'text/event-stream', 'last-event-id': String(last) }, signal: abort.signal });
    if (res.status === 401) {
      stopped = true;
      notSignedIn();
      return;
    }
    if (!res.ok) throw new Error(`event stream: HTTP ${res.status}`);
    onStatus('live');
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffered = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffered += value;
      let end;
      while ((end = buffered.indexOf('\n\n')) >= 0) {
        const block = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        const data = block.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
        if (!data) continue;
        const event = JSON.parse(data);
        if (event.id <= last) continue;
        last = event.id;
        onEvent(event);
      }
    }
  };
  (async () => {
    for (let delay = 500; !stopped; delay = Math.min(delay * 2, 8000)) {
      const opened = Date.now();
      await once().catch(() => undefined);
      if (stopped) return;
      onStatus('reconnecting');
      // A connection that lived a while was fine: start the backoff over.
      if (Date.now() - opened > 30_000) delay = 500;
      await sleep(delay);
    }
  })();
  return () => {
    stopped = true;
    abort.abort();
  };
}
