/**
 * Redfish resource reading and request bodies, without sockets: what the driver sends and how
 * it reads what a BMC answers. BMCs differ in what they expose, so every reader falls back to the
 * DMTF default paths and tolerates absent optional properties.
 */
import type { Firmware } from '../model/boot.js';
import type { PowerState } from './driver.js';
import { PowerError } from './errors.js';

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const odataId = (v: unknown): string | undefined => (isObject(v) && typeof v['@odata.id'] === 'string' ? v['@odata.id'] : undefined);

export interface ServiceLinks {
  systems: string;
  sessions: string;
}

export function serviceLinks(root: unknown): ServiceLinks {
  const r = isObject(root) ? root : {};
  const links = isObject(r.Links) ? r.Links : {};
  return {
    systems: odataId(r.Systems) ?? '/redfish/v1/Systems',
    sessions: odataId(links.Sessions) ?? '/redfish/v1/SessionService/Sessions',
  };
}

/** The system to act on: the one named by bmc.systemId, or the only member of the collection. */
export function pickSystem(collection: unknown, systemId: string | undefined): string {
  const members = isObject(collection) && Array.isArray(collection.Members) ? collection.Members.map(odataId).filter((m): m is string => !!m) : undefined;
  if (!members) throw new PowerError('unexpected', 'the Systems collection has no Members list');
  if (systemId !== undefined) {
    const found = members.find((m) => m === systemId || m.replace(/\/$/, '').split('/').pop() === systemId);
    if (!found) throw new PowerError('config', `bmc.systemId "${systemId}" is not among the BMC's systems (${members.join(', ') || 'none'})`);
    return found;
  }
  if (members.length === 1) return members[0];
  if (members.length === 0) throw new PowerError('unexpected', 'the BMC lists no computer system under Systems');
  throw new PowerError('config', `the BMC has ${members.length} systems (${members.join(', ')}): set bmc.systemId to the one to drive`);
}

/** Transitional states count as the state they move to: that is what a reset would meet. */
export function powerState(system: unknown): PowerState {
  const state = isObject(system) ? system.PowerState : undefined;
  if (state === 'On' || state === 'PoweringOn') return 'on';
  if (state === 'Off' || state === 'PoweringOff') return 'off';
  throw new PowerError('unexpected', `the system reports PowerState ${JSON.stringify(state)}`);
}

export interface ResetAction {
  target: string;
  allowed?: string[];
}

export function resetAction(system: unknown, systemPath: string): ResetAction {
  const actions = isObject(system) && isObject(system.Actions) ? system.Actions : {};
  const reset = isObject(actions['#ComputerSystem.Reset']) ? actions['#ComputerSystem.Reset'] : {};
  const allowed = reset['ResetType@Redfish.AllowableValues'];
  return {
    target: typeof reset.target === 'string' ? reset.target : `${systemPath.replace(/\/$/, '')}/Actions/ComputerSystem.Reset`,
    allowed: Array.isArray(allowed) ? allowed.filter((a): a is string => typeof a === 'string') : undefined,
  };
}

/** Reset types in order of preference for each intent; BMCs implement different subsets. */
const RESET_PREFERENCE = {
  on: ['On', 'ForceOn', 'PushPowerButton'],
  off: ['ForceOff', 'PushPowerButton'],
  restart: ['ForceRestart', 'PowerCycle', 'GracefulRestart'],
} as const;

export type ResetIntent = keyof typeof RESET_PREFERENCE;

export function chooseReset(intent: ResetIntent, allowed: string[] | undefined): string {
  const wanted = RESET_PREFERENCE[intent];
  if (!allowed) return wanted[0];
  const pick = wanted.find((w) => allowed.includes(w));
  if (!pick) throw new PowerError('unsupported', `the BMC allows ResetType ${allowed.join(', ')} but none of ${wanted.join(', ')}`);
  return pick;
}

/** cycle: a system that is off gets On (ForceRestart is refused or ignored when off). */
export function cycleIntent(state: PowerState): ResetIntent {
  return state === 'off' ? 'on' : 'restart';
}

/**
 * The PATCH body for a one-time network boot. The mode is sent only when the system reports a
 * BootSourceOverrideMode: older BMCs without it reject unknown properties with 400.
 */
export function pxeOnceBody(system: unknown, firmware: Firmware): { Boot: Json } {
  const boot = isObject(system) && isObject(system.Boot) ? system.Boot : {};
  const targets = boot['BootSourceOverrideTarget@Redfish.AllowableValues'];
  if (Array.isArray(targets) && !targets.includes('Pxe'))
    throw new PowerError('unsupported', `the BMC does not offer Pxe as boot override target (offers ${targets.join(', ')})`);
  const mode = firmware === 'uefi' ? 'UEFI' : 'Legacy';
  const modes = boot['BootSourceOverrideMode@Redfish.AllowableValues'];
  if (Array.isArray(modes) && !modes.includes(mode))
    throw new PowerError('unsupported', `the BMC does not offer boot mode ${mode} (offers ${modes.join(', ')}); check the profile's firmware`);
  const body: Json = { BootSourceOverrideTarget: 'Pxe', BootSourceOverrideEnabled: 'Once' };
  if ('BootSourceOverrideMode' in boot || Array.isArray(modes)) body.BootSourceOverrideMode = mode;
  return { Boot: body };
}

/** The human part of a Redfish error body, for the operator's message; bounded in length. */
export function redfishMessage(body: unknown): string | undefined {
  const error = isObject(body) && isObject(body.error) ? body.error : undefined;
  if (!error) return undefined;
  const info = error['@Message.ExtendedInfo'];
  const first = Array.isArray(info) && isObject(info[0]) && typeof info[0].Message === 'string' ? info[0].Message : undefined;
  const text = first ?? (typeof error.message === 'string' ? error.message : undefined);
  return text?.slice(0, 300);
}
