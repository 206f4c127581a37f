import { systemClock } from '../model/clock.js';
import { z } from 'zod';
import { ConvergeStep } from '../model/converge-steps.js';
import type { EventLevel, EventSink } from '../model/events.js';
import { ConnectError } from './errors.js';
import { Host } from './host.js';
import { ExecTimeout } from './ssh-session.js';
import { kindOf } from './steps/index.js';
import { StepFailure, firstLine, type StepContext } from './steps/kind.js';
import { tail } from './tail.js';
import type { ConvergeMode } from '../model/converge-steps.js';
import type { ConvergeReport, ExecResult, SshTarget, StepReport, StepStatus, TemplateContext } from './types.js';

export interface ConvergeOptions extends SshTarget {
  mode: ConvergeMode;
  /** As the profile declares them; validated again here, so an unparsed `latest` image is still refused. */
  steps: z.input<typeof ConvergeStep>[];
  context: TemplateContext;
  sink: EventSink;
  /** machine name, for events and the report */
  machine: string;
  /** epoch ms: waiting for the host and every step end by then */
  deadline: number;
  /** for steps without their own timeoutSeconds (config converge.stepTimeoutSeconds) */
  stepTimeoutSeconds?: number;
  /**
   * Steps an interrupted earlier apply of this converge may have changed
   * (model/converge-progress.ts): their triggers fire as if this run had changed them.
   */
  changedBefore?: readonly string[];
}

const STATUS_LEVEL: Record<StepStatus, EventLevel> = {
  ok: 'info',
  changed: 'info',
  'would-change': 'info',
  drift: 'warn',
  failed: 'error',
  skipped: 'info',
};

/**
 * Brings a host to the state its steps declare (apply), says what that would change (plan), or
 * what differs from it (audit). Never throws for a host-side problem: the report says what failed.
 */
export async function converge(o: ConvergeOptions): Promise<ConvergeReport> {
  const started = systemClock.now();
  const where = `${o.user}@${o.host}:${o.port ?? 22}`;
  const emit = (level: EventLevel, message: string, data: Record<string, unknown> = {}) =>
    o.sink.report({ machine: o.machine, kind: 'converge', level, message, data: { mode: o.mode, ...data } });
  const parsed = o.steps.map((s) => ConvergeStep.safeParse(s));
  const steps: StepReport[] = o.steps.map((s) => ({
    name: typeof s.name === 'string' ? s.name : '?',
    kind: kindName(s.kind),
    status: 'skipped',
    durationMs: 0,
    output: '',
  }));

  const finish = (error?: { kind: string; message: string }): ConvergeReport => {
    const counts: Record<StepStatus, number> = { ok: 0, changed: 0, 'would-change': 0, drift: 0, failed: 0, skipped: 0 };
    for (const s of steps) counts[s.status]++;
    const report: ConvergeReport = { machine: o.machine, mode: o.mode, ok: !error && counts.failed === 0, durationMs: systemClock.now() - started, steps, counts };
    if (error) report.error = error;
    const summary = Object.entries(counts).filter(([, n]) => n > 0).map(([s, n]) => `${n} ${s}`).join(', ');
    const level = !report.ok ? 'error' : counts.drift > 0 ? 'warn' : 'info';
    emit(level, `converge ${o.mode} ${report.ok ? 'done' : 'failed'}${error ? `: ${error.message}` : ''} (${summary || 'no steps'}) in ${report.durationMs} ms`, {
      ok: report.ok,
      counts,
      durationMs: report.durationMs,
      ...(error ? { reason: error.kind } : {}),
    });
    return report;
  };

  emit('info', `converge ${o.mode} started: ${o.steps.length} step(s) on ${where}`);
  let invalid = 0;
  parsed.forEach((p, i) => {
    if (p.success) return;
    invalid++;
    steps[i] = { ...steps[i]!, status: 'failed', detail: z.prettifyError(p.error) };
  });
  if (invalid > 0) return finish({ kind: 'invalid-step', message: `${invalid} step(s) are invalid; nothing was run` });

  let host: Host;
  try {
    host = await Host.connect(o, {
      deadline: o.deadline,
      onRetry: (err, attempt, delayMs) =>
        emit('debug', `waiting for ${where}: ${err.message}; attempt ${attempt + 1} in ${delayMs} ms`, { reason: err.kind }),
    });
  } catch (err) {
    const e = err instanceof ConnectError ? err : new ConnectError('unreachable', (err as Error).message);
    return finish({ kind: e.kind, message: e.message });
  }

  try {
    if (o.user !== 'root') {
      const r = await host.run('true', Math.max(1, Math.min(30_000, o.deadline - systemClock.now())));
      if (r.code !== 0) return finish({ kind: 'sudo', message: `${where}: sudo -n refused; the converge user needs passwordless sudo (${firstLine(r)})` });
    }
    const changed = new Set<string>(o.mode === 'apply' ? o.changedBefore : []);
    for (const [i, p] of parsed.entries()) {
      const step = p.data!;
      if (systemClock.now() >= o.deadline) {
        steps[i] = { ...steps[i]!, status: 'failed', detail: 'the converge deadline passed before this step' };
        break;
      }
      emit('info', `step ${step.name} (${step.kind}) started`, { step: step.name, stepKind: step.kind });
      const result = await runStep(step, host, o, changed);
      steps[i] = result;
      emit(STATUS_LEVEL[result.status], `step ${step.name}: ${result.status}${result.detail ? `: ${result.detail}` : ''} (${result.durationMs} ms)`, {
        step: step.name,
        stepKind: step.kind,
        status: result.status,
        durationMs: result.durationMs,
        ...(result.status === 'failed' ? { output: result.output } : {}),
      });
      if (result.status === 'changed' || result.status === 'would-change') changed.add(step.name);
      // Later steps build on earlier ones (a service on its package), so apply stops at a failure;
      // plan and audit change nothing and go on to show the whole picture.
      if (result.status === 'failed' && o.mode === 'apply') break;
    }
  } finally {
    host.end();
  }
  return finish();
}

async function runStep(step: ConvergeStep, host: Host, o: ConvergeOptions, changed: ReadonlySet<string>): Promise<StepReport> {
  const started = systemClock.now();
  const deadline = Math.min(o.deadline, started + (step.timeoutSeconds ?? o.stepTimeoutSeconds ?? 900) * 1000);
  let log = '';
  const left = (what: string) => {
    const ms = deadline - systemClock.now();
    if (ms <= 0) throw new ExecTimeout(what, deadline - started);
    return ms;
  };
  const run = async (script: string): Promise<ExecResult> => {
    log += `$ ${script}\n`;
    const r = await host.run(script, left(script));
    log += r.stdout + r.stderr + (r.code === 0 ? '' : `[exit ${r.code ?? 'none'}]\n`);
    if (r.code === null) throw new StepFailure('the connection to the host was lost');
    return r;
  };
  const ctx: StepContext = {
    mode: o.mode,
    changed,
    template: o.context,
    run,
    must: async (script, what) => {
      const r = await run(script);
      if (r.code !== 0) throw new StepFailure(`${what} exited ${r.code}: ${firstLine(r)}`);
      return r;
    },
    upload: (content) => host.upload(content, left('sftp upload')),
    reboot: async () => {
      log += '$ systemctl reboot\n';
      await host.reboot(deadline);
      log += `host is back after ${systemClock.now() - started} ms\n`;
    },
  };
  const kind = kindOf(step);
  const done = (status: StepStatus, detail?: string): StepReport => ({
    name: step.name,
    kind: step.kind,
    status,
    durationMs: systemClock.now() - started,
    ...(detail ? { detail } : {}),
    output: tail(log),
  });
  try {
    const diff = await kind.check(step, ctx);
    if (!diff) return done('ok');
    if (o.mode === 'plan') return done('would-change', diff.summary);
    if (o.mode === 'audit') return done('drift', diff.summary);
    await diff.apply();
    const remaining = kind.verify ? await kind.verify(step, ctx) : (await kind.check(step, { ...ctx, changed: new Set() }))?.summary;
    return remaining ? done('failed', `still differs after apply: ${remaining}`) : done('changed', diff.summary);
  } catch (err) {
    return done('failed', err instanceof Error ? err.message : String(err));
  }
}

function kindName(kind: unknown): StepReport['kind'] {
  const known: string[] = ConvergeStep.options.map((o) => o.shape.kind.value);
  return typeof kind === 'string' && known.includes(kind) ? (kind as StepReport['kind']) : 'unknown';
}
