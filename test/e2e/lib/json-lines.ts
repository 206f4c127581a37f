import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';

/**
 * Collects the JSON objects a child process prints one per line (the stub boot server's events,
 * pino logs) and lets a test wait for one. Lines that are not JSON are kept as text.
 */
export class JsonLines<T = Record<string, unknown>> {
  readonly items: T[] = [];
  readonly text: string[] = [];
  private waiters: Array<() => void> = [];
  private ended = false;

  constructor(stream: Readable) {
    const lines = createInterface({ input: stream });
    lines.on('line', (line) => {
      try {
        this.items.push(JSON.parse(line) as T);
      } catch {
        this.text.push(line);
      }
      this.wake();
    });
    lines.on('close', () => {
      this.ended = true;
      this.wake();
    });
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** The first item matching `pred`, already seen or yet to come. */
  async waitFor(pred: (item: T) => boolean, timeoutMs: number, what = 'a matching line'): Promise<T> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const found = this.items.find(pred);
      if (found) return found;
      if (this.ended) throw new Error(`stream ended without ${what}; last output: ${this.text.slice(-5).join(' | ')}`);
      const left = until - Date.now();
      if (left <= 0) throw new Error(`no ${what} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}
