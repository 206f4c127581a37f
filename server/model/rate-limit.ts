/**
 * A per-key budget of `burst` events per fixed window. Refused requests are reported as events,
 * and a flood of junk requests must not become a flood of store writes or log lines.
 * The table is bounded: past maxKeys distinct keys (spoofed sources) it starts over.
 */
export class RateLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>();

  constructor(
    private readonly burst: number,
    private readonly windowMs: number,
    private readonly maxKeys = 4096,
  ) {}

  allow(key: string, now: number): boolean {
    let w = this.windows.get(key);
    if (!w || now - w.start >= this.windowMs) {
      if (!w && this.windows.size >= this.maxKeys) this.windows.clear();
      w = { start: now, count: 0 };
      this.windows.set(key, w);
    }
    return ++w.count <= this.burst;
  }
}
