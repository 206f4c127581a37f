import type { FastifyBaseLogger } from 'fastify';
import type { Bindings, ChildLoggerOptions } from 'fastify/types/logger.js';

/** pino's levels, most severe first: a logger at level L logs the levels up to L. */
const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;
const childArgs = Symbol('child arguments');
const made = Symbol('child');

interface Lazy {
  [childArgs]: [Bindings, ChildLoggerOptions];
  [made]?: FastifyBaseLogger;
}
type LogMethod = (...args: unknown[]) => void;

/**
 * Per parent logger, the methods of its lazy children (made once, not per request). The rest
 * (level, silent, …) is read from the parent, whose level the child inherits.
 */
const prototypes = new WeakMap<FastifyBaseLogger, object>();
function prototypeFor(logger: FastifyBaseLogger): object {
  let proto = prototypes.get(logger) as Record<string, unknown> | undefined;
  if (proto) return proto;
  const real = (lazy: Lazy) => (lazy[made] ??= logger.child(...lazy[childArgs]));
  proto = Object.create(logger) as Record<string, unknown>;
  LEVELS.forEach((level, i) => {
    proto![level] = function (this: Lazy, ...args: unknown[]) {
      // Read at each call: the parent's level may be changed at run time.
      if (LEVELS.indexOf(logger.level as (typeof LEVELS)[number]) >= i) (real(this)[level] as LogMethod)(...args);
    };
  });
  proto.child = function (this: Lazy, bindings: Bindings, opts?: ChildLoggerOptions) {
    return real(this).child(bindings, opts);
  };
  prototypes.set(logger, proto);
  return proto;
}

/**
 * A child logger factory for fastify that makes the per-request child only when the request
 * logs a line at an enabled level. fastify binds every request's reqId through `child()`, and
 * with kickstand's redaction paths that costs ≈ 4.5 µs per request (pino passes each binding
 * through every path), as much as the rest of a kickstart fetch; the boot routes rarely log.
 * Lines that are logged are those of `logger.child(bindings, opts)`, made then.
 */
export function lazyRequestLogger<L extends FastifyBaseLogger>(logger: L, bindings: Bindings, opts: ChildLoggerOptions): L {
  // A route's own level or serializers decide what is enabled: make the child as fastify would.
  if (opts.level !== undefined || opts.serializers !== undefined) return logger.child(bindings, opts) as L;
  const lazy = Object.create(prototypeFor(logger)) as Lazy;
  lazy[childArgs] = [bindings, opts];
  return lazy as unknown as L;
}
