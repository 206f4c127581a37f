/** Milliseconds since the epoch; tests move it by hand. */
export type Clock = { now(): number };
export const systemClock: Clock = { now: () => Date.now() };
