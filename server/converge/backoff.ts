/**
 * Delay before the next connection attempt: doubling from `baseMs` up to `maxMs`, with ±20 % jitter
 * so that a rack of hosts rebooted together does not retry in lockstep.
 */
export function backoffDelay(attempt: number, baseMs = 500, maxMs = 10_000, random: () => number = Math.random): number {
  const plain = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt));
  return Math.round(plain * (0.8 + 0.4 * random()));
}
