/**
 * Bounds how many hosts are converged at once (config converge.concurrency): a rack reinstalled
 * together must not open hundreds of SSH sessions and dnf runs against one mirror at the same time.
 * Jobs start in the order they were queued.
 */
export class ConvergeQueue {
  private running = 0;
  private readonly waitingJobs: Array<() => void> = [];

  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`converge concurrency must be a positive integer, got ${limit}`);
  }

  get active(): number {
    return this.running;
  }

  get waiting(): number {
    return this.waitingJobs.length;
  }

  async run<T>(job: () => Promise<T>): Promise<T> {
    if (this.running >= this.limit) await new Promise<void>((resolve) => this.waitingJobs.push(resolve));
    else this.running++;
    try {
      return await job();
    } finally {
      // The slot passes straight to the next job, so `running` never dips below the limit while jobs wait.
      const next = this.waitingJobs.shift();
      if (next) next();
      else this.running--;
    }
  }
}
