import { Machine, type MachineInput } from '../../server/model/machine.js';
import type { BootEvent, EventSink } from '../../server/model/events.js';

export function machineWith(bmc: MachineInput['bmc']): Machine {
  return Machine.parse({ name: 'web-01', macs: ['52:54:00:12:34:56'], profile: 'test', bmc });
}

export function recordingSink(): EventSink & { events: BootEvent[] } {
  const events: BootEvent[] = [];
  return { events, report: (e) => void events.push(e) };
}

/** Resolves to the rejection of `p`; fails the test if p resolves. */
export async function rejection(p: Promise<unknown>): Promise<Error & { kind?: string }> {
  try {
    await p;
  } catch (err) {
    return err as Error & { kind?: string };
  }
  throw new Error('expected a rejection');
}
