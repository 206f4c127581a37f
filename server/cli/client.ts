import type { StoredEvent } from '../model/events.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: { message?: string; issues?: { path: string; message: string }[] } | undefined,
    fallback: string,
  ) {
    super(body?.message ?? fallback);
  }
}

/** Where the CLI finds kickstand: flags, then env, then the local data dir's token. */
export function clientSettings(flags: { url?: string; token?: string }, env = process.env) {
  const url = (flags.url ?? env.KICKSTAND_URL ?? `http://127.0.0.1:${env.KICKSTAND_HTTP_PORT ?? 8080}`).replace(/\/$/, '');
  let token = flags.token ?? env.KICKSTAND_API_TOKEN;
  if (!token) {
    try {
      token = readFileSync(join(env.KICKSTAND_DATA_DIR ?? './var', 'api-token'), 'utf8').trim();
    } catch {
      token = undefined;
    }
  }
  return { url, token };
}

export class Client {
  constructor(
    readonly url: string,
    private readonly token: string | undefined,
  ) {}

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...(this.token ? { authorization: `Bearer ${this.token}` } : {}), ...extra };
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.url}${path}`, {
        method,
        headers: this.headers(body === undefined ? {} : { 'content-type': 'application/json' }),
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      throw new Error(`cannot reach kickstand at ${this.url}: ${(err as Error & { cause?: Error }).cause?.message ?? (err as Error).message}`);
    }
    const text = await res.text();
    const parsed = text && res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : undefined;
    if (!res.ok) throw new ApiError(res.status, parsed, `${method} ${path}: HTTP ${res.status}${text && !parsed ? `: ${text.trim()}` : ''}`);
    return (parsed ?? text) as T;
  }

  /** Reads the SSE stream, calling onEvent for each event until it returns true or the signal aborts. */
  async stream(path: string, onEvent: (e: StoredEvent) => boolean | void, signal?: AbortSignal): Promise<void> {
    const res = await fetch(`${this.url}${path}`, { headers: this.headers({ accept: 'text/event-stream' }), signal });
    if (!res.ok || !res.body) throw new ApiError(res.status, undefined, `GET ${path}: HTTP ${res.status}`);
    const decoder = new TextDecoder();
    let buf = '';
    for await (const chunk of res.body) {
      buf += decoder.decode(chunk as Uint8Array, { stream: true });
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const frame = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const data = frame.split('\n').find((l) => l.startsWith('data: '));
        if (data && onEvent(JSON.parse(data.slice(6)))) return;
      }
    }
  }
}
