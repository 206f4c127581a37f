import type { ConvergeMode, ConvergeStep } from '../model/converge-steps.js';

/** Where and as whom the converger logs in, and the host keys it accepts there. */
export interface SshTarget {
  host: string;
  port?: number;
  user: string;
  /** kickstand's own private key (OpenSSH or PEM text). */
  privateKey: string | Buffer;
  /** OpenSSH public key lines the installer reported for this install; nothing else is accepted. */
  pinnedHostKeys: string[];
}

export interface ExecResult {
  /** null when the connection went away before the command reported an exit status. */
  code: number | null;
  signal?: string;
  stdout: string;
  stderr: string;
}

export type StepStatus = 'ok' | 'changed' | 'would-change' | 'drift' | 'failed' | 'skipped';

/** Data a file step's template sees. */
export interface TemplateContext {
  machine: unknown;
  profile: unknown;
  params: Record<string, unknown>;
}

export interface StepReport {
  name: string;
  kind: ConvergeStep['kind'] | 'unknown';
  status: StepStatus;
  durationMs: number;
  /** What differed (or why it failed), in words. */
  detail?: string;
  /** Last lines of the commands the step ran, with their output. */
  output: string;
}

export interface ConvergeReport {
  machine: string;
  mode: ConvergeMode;
  /** No step failed and the host was reached. Drift in audit mode does not make it false. */
  ok: boolean;
  durationMs: number;
  steps: StepReport[];
  counts: Record<StepStatus, number>;
  /** Set when the converge could not run the steps at all (connection, sudo, invalid steps). */
  error?: { kind: string; message: string };
}
