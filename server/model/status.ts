/** A machine's lifecycle state, as the lifecycle writes it and everyone else reads it. */

export const STATES = [
  'registered',
  'reinstall-requested',
  'power-cycling',
  'pxe-booting',
  'installer-booting',
  'installing',
  'installed',
  'converging',
  'ready',
  'failed',
] as const;
export type State = (typeof STATES)[number];

/** Resting states: no deadline runs, a reinstall may begin without force, the machine may be deleted. */
export const RESTING: readonly State[] = ['registered', 'ready', 'failed'];

/** What a netboot request from this machine should get now. */
export type Netboot = 'install' | 'local';

/**
 * Who runs the effect a state has under way (a power cycle, a converge): the instance that wrote
 * the state, and which start of it. The same name started again is another run, and the run
 * before it is gone with its effect.
 */
export interface EffectRunner {
  /** The instance name (config `instance`). */
  instance: string;
  /** Random per start of the instance. */
  run: string;
}

export interface MachineStatus {
  machine: string;
  state: State;
  netboot: Netboot;
  /** Set on failed: the state that was active, and why. */
  phase?: State;
  reason?: string;
  hint?: string;
  /** One reinstall = one install id; tokens and callbacks belong to it. */
  installId?: string;
  stateSince: number;
  deadline?: number;
  startedAt?: number;
  /** Host public keys the installer reported for this install; the converger pins them. */
  hostKeys: string[];
  /** The address the install token was handed to in an iPXE script (DHCP off: the first to ask). */
  bootIp?: string;
  /** The address that first fetched this install's kickstart/Ignition; callbacks must come from it. */
  installerIp?: string;
  /** Set in the states that have an effect under way (table.ts IN_FLIGHT); resumed elsewhere when it is gone. */
  runner?: EffectRunner;
  version: number;
}
