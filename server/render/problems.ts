/**
 * What lint and rendering report: a field path an operator can act on
 * (`storage.volumes.2.mount`, or `kickstart:41` for a line of rendered text) and why.
 */
export interface Problem {
  path: string;
  message: string;
}

export function formatProblems(problems: Problem[]): string {
  return problems.map((p) => `${p.path}: ${p.message}`).join('\n');
}

/** A config that must not be served: it carries every problem so the operator fixes them in one pass. */
export class RenderError extends Error {
  constructor(readonly problems: Problem[]) {
    super(formatProblems(problems));
    this.name = 'RenderError';
  }
}
