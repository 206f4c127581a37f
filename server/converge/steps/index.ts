import type { ConvergeStep } from '../../model/converge-steps.js';
import { command } from './command.js';
import { container } from './container.js';
import { file } from './file.js';
import type { StepKind } from './kind.js';
import { packages } from './packages.js';
import { reboot } from './reboot.js';
import { service } from './service.js';

type Kinds = { [K in ConvergeStep['kind']]: StepKind<Extract<ConvergeStep, { kind: K }>> };

export const STEP_KINDS: Kinds = { packages, file, service, container, command, reboot };

export function kindOf<S extends ConvergeStep>(step: S): StepKind<S> {
  return STEP_KINDS[step.kind] as unknown as StepKind<S>;
}
