/** Milliseconds since the epoch; tests move it by hand. */
export type Clock = { now(): number };

/**
 * Wall time read once, then advanced by a monotonic source: deadlines, token expiry and
 * converge timeouts measure durations, and a wall clock stepped by NTP or by hand (an hour
 * back, a day ahead) must not fire or stall them. Timestamps stay close to wall time; they
 * drift from it only by the steps the wall clock takes while kickstand runs.
 */
export function monotonicClock(wall: () => number = Date.now, monotonic: () => number = () => performance.now()): Clock {
  const offset = wall() - monotonic();
  return { now: () => Math.floor(offset + monotonic()) };
}

export const systemClock: Clock = monotonicClock();
