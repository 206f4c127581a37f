/**
 * Manual "power" driver: kickstand acts on nothing and asks the operator instead, through an
 * event; the lifecycle's deadline keeps running, so a request nobody acts on ends in `failed`.
 */
import type { Machine } from '../model/machine.js';
import type { EventSink } from '../model/events.js';
import type { Firmware } from '../model/boot.js';
import type { PowerDriver } from './driver.js';
import { PowerError } from './errors.js';

export function manualDriver(machine: Machine, sink: EventSink): PowerDriver {
  const ask = async (action: string, request: string, data: Record<string, unknown> = {}) => {
    sink.report({ machine: machine.name, kind: 'power', level: 'warn', message: `operator action needed: ${request}`, data: { driver: 'manual', action, ...data } });
  };
  return {
    status: () => Promise.reject(new PowerError('unsupported', `${machine.name}: the manual power driver cannot read the power state`)),
    on: () => ask('on', `power on ${machine.name}`),
    off: () => ask('off', `power off ${machine.name}`),
    cycle: () => ask('cycle', `power-cycle ${machine.name} (power it on if it is off)`),
    bootOnceToPxe: (firmware: Firmware) =>
      ask('boot-once-pxe', `make the next boot of ${machine.name} a network (PXE) boot in ${firmware === 'uefi' ? 'UEFI' : 'legacy BIOS'} mode`, { firmware }),
  };
}
