/**
 * The one error type power drivers throw. `kind` lets the lifecycle choose a hint; `message` is
 * written for the operator (what failed, against which BMC, what to check) and is scrubbed of
 * the BMC password before it leaves a driver (operatorError), because messages end up in events
 * and logs.
 */
export type PowerErrorKind =
  | 'timeout'
  | 'auth'
  | 'tls'
  | 'unreachable'
  | 'unexpected'
  | 'unsupported'
  | 'config';

export class PowerError extends Error {
  override readonly name = 'PowerError';
  constructor(
    readonly kind: PowerErrorKind,
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

/**
 * Turns any failure into the PowerError an operator reads: prefixed with what was being done to
 * which machine, and with every occurrence of the secrets removed: a BMC may echo credentials in
 * an error body, and this is the last gate before the message reaches an event.
 */
export function operatorError(err: unknown, context: string, secrets: string[]): PowerError {
  const base = err instanceof PowerError ? err : new PowerError('unexpected', `unexpected failure: ${String((err as Error)?.message ?? err)}`);
  let message = `${context}: ${base.message}`;
  for (const s of secrets) if (s.length > 0) message = message.split(s).join('***');
  return new PowerError(base.kind, message, base.status);
}
