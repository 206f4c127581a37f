import type { Logger } from 'pino';
import { type Clock, systemClock } from '../model/clock.js';
import { RateLimiter } from '../model/rate-limit.js';
import type { Reads } from '../reads/reads.js';
import type { Store } from '../store/store.js';
import type { BootEvent, EventSink, StoredEvent } from '../model/events.js';

type Listener = (e: StoredEvent) => void;

/**
 * The EventSink that protocol code reports to. Reports are queued and written in one
 * transaction per turn of the event loop (a DHCP storm must not become one fsync per packet),
 * then handed to listeners: the lifecycle and the live SSE stream.
 */
export class EventLog implements EventSink {
  private queue: { event: BootEvent; at: number }[] = [];
  private flushing: Promise<void> | undefined;
  /** Reports queued since start, and how many of them (the oldest, in order) are written or given up. */
  private queued = 0;
  private settled = 0;
  private waiters: { upTo: number; resolve: () => void }[] = [];
  private readonly listeners = new Set<Listener>();
  /**
   * What unauthenticated traffic can make kickstand write: per source address (or MAC), a burst
   * a real boot never reaches in 10 s. Past it, reports are dropped and counted, not stored.
   */
  private readonly perSource = new RateLimiter(200, 10_000, 65_536);
  private rateDropped = 0;

  constructor(
    private readonly store: Store,
    private readonly reads: Reads,
    private readonly logger: Logger,
    private readonly clock: Clock = systemClock,
  ) {}

  report(event: BootEvent): void {
    const source = event.ip ?? event.mac;
    if (source !== undefined && !this.perSource.allow(source, this.clock.now())) {
      this.rateDropped++;
      return;
    }
    this.queue.push({ event, at: this.clock.now() });
    this.queued++;
    this.flushing ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.drain());
  }

  /** Writes an event now and resolves once it is stored and delivered. */
  async append(event: BootEvent): Promise<StoredEvent> {
    await this.flush();
    const stored = await this.store.events.append(event, this.clock.now());
    this.publish([stored]);
    return stored;
  }

  /** Reports dropped by the per-source rate limit since start. */
  get dropped(): number {
    return this.rateDropped;
  }

  /**
   * Resolves when everything reported so far is stored (or given up, and logged). Not when the
   * queue is empty: in a boot storm reports never stop, and a state change that waited for a quiet
   * moment waited for batch after batch written after it was asked.
   */
  flush(): Promise<void> {
    const upTo = this.queued;
    if (this.settled >= upTo) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ upTo, resolve }));
  }

  /** Deletes events older than `before`, a bounded batch at a time so writers are not held up. */
  async prune(before: number): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await this.store.events.prune(before, 5000);
      total += n;
      if (n < 5000) return total;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length) {
        const batch = this.queue.splice(0, 500);
        try {
          await this.attribute(batch);
          this.publish(await this.store.events.appendMany(batch));
        } catch (err) {
          this.logger.error({ err, dropped: batch.length }, 'events could not be stored');
        }
        this.settle(batch.length);
      }
    } finally {
      this.flushing = undefined;
    }
  }

  private settle(n: number): void {
    this.settled += n;
    // Waiters are in the order they asked, so by upTo: the woken ones are a prefix.
    let woken = 0;
    while (woken < this.waiters.length && this.waiters[woken]!.upTo <= this.settled) this.waiters[woken++]!.resolve();
    if (woken) this.waiters.splice(0, woken);
  }

  /**
   * Protocol code knows the MAC, not always the machine: attributed here, once. Each MAC is
   * looked up once per batch, all at once: with PostgreSQL a lookup is a round trip, and a DHCP
   * burst's events, one after the other, held up every write behind them.
   */
  private async attribute(batch: { event: BootEvent }[]): Promise<void> {
    const macs = [...new Set(batch.flatMap((b) => (!b.event.machine && b.event.mac ? [b.event.mac] : [])))];
    const owners = new Map(await Promise.all(macs.map(async (mac) => [mac, (await this.reads.machineByMac(mac))?.name] as const)));
    for (const b of batch) {
      const machine = !b.event.machine && b.event.mac ? owners.get(b.event.mac) : undefined;
      if (machine) b.event = { ...b.event, machine };
    }
  }

  /** Hands stored events to the listeners (the writer calls it once its transaction commits). */
  publish(events: StoredEvent[]): void {
    for (const e of events)
      for (const l of this.listeners) {
        try {
          l(e);
        } catch (err) {
          this.logger.error({ err }, 'event listener failed');
        }
      }
  }
}
