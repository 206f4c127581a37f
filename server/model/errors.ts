/**
 * The failures several rooms raise and the API turns into status codes (http/errors.ts):
 * a conflict is 409, a refused write or render names the field, an unavailable store is 503.
 */

/** A field path an operator can act on (`storage.volumes.2.mount`, `kickstart:41`) and why. */
export interface Problem {
  path: string;
  message: string;
}

export function formatProblems(problems: Problem[]): string {
  return problems.map((p) => `${p.path}: ${p.message}`).join('\n');
}

/** A write that would break a uniqueness or version rule (a MAC owned twice, a stale status). */
export class ConflictError extends Error {
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(message);
  }
}

/** An inventory write refused by schema-level or semantic checks, naming each field. */
export class InventoryRefused extends Error {
  constructor(readonly issues: Problem[]) {
    super(issues.map((i) => `${i.path}: ${i.message}`).join('; '));
  }
}

/** An operator action the lifecycle refuses, and why. */
export class LifecycleError extends Error {
  constructor(
    message: string,
    readonly code: 'not-found' | 'busy' | 'forbidden' | 'invalid' | 'gone',
  ) {
    super(message);
  }
}

/** A config that must not be served: it carries every problem so the operator fixes them in one pass. */
export class RenderError extends Error {
  constructor(readonly problems: Problem[]) {
    super(formatProblems(problems));
    this.name = 'RenderError';
  }
}

/** The store cannot take a write (disk full, read-only, I/O error): nothing was written. */
export class StoreUnavailable extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreUnavailable';
  }
}

/** A profile that does not fit a machine's reported hardware: each problem names the profile field. */
export class Misfit extends Error {
  constructor(
    readonly profile: string,
    readonly problems: Problem[],
  ) {
    super(`profile ${profile} does not fit this machine's hardware: ${formatProblems(problems).replace(/\n/g, '; ')}`);
    this.name = 'Misfit';
  }
}
