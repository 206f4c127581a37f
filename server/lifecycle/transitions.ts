import { type State, STATES } from '../model/status.js';

/**
 * The transition table. Anything not listed is a bug: Lifecycle refuses it and tests
 * walk the whole table. `failed` is reachable from every active state (deadline, callback,
 * power error, cancel); a reinstall may start from any resting state.
 */
export const TRANSITIONS: Record<State, readonly State[]> = {
  registered: ['reinstall-requested'],
  'reinstall-requested': ['power-cycling', 'failed'],
  'power-cycling': ['pxe-booting', 'installer-booting', 'installing', 'failed'],
  'pxe-booting': ['installer-booting', 'installing', 'failed'],
  'installer-booting': ['installing', 'installed', 'failed'],
  installing: ['installed', 'failed'],
  installed: ['converging', 'ready', 'failed'],
  converging: ['ready', 'failed'],
  ready: ['reinstall-requested', 'converging'],
  failed: ['reinstall-requested', 'converging'],
};

/** Resting states: no deadline runs, a reinstall may begin without force. */
export const RESTING: readonly State[] = ['registered', 'ready', 'failed'];

/** The path of a successful reinstall, for "step k of n": every state but the two ends. */
export const INSTALL_PATH: readonly State[] = STATES.filter((s) => s !== 'registered' && s !== 'failed');

export function canTransition(from: State, to: State): boolean {
  return TRANSITIONS[from].includes(to);
}

/** What an operator should check when a phase runs out of time. */
export const DEADLINE_HINTS: Partial<Record<State, string>> = {
  'reinstall-requested': 'the power driver did not start: check the BMC address and credentials',
  'power-cycling':
    'no DHCP from this MAC after the power cycle: check the BMC boot override, the NIC PXE setting and that the MAC is right',
  'pxe-booting': 'the machine got DHCP but never fetched its iPXE script or kernel: check TFTP/HTTP reachability and the firmware mode',
  'installer-booting': 'the installer kernel started but never fetched its kickstart: check the initrd, inst.ks URL and the network in the installer',
  installing: 'the installer fetched its config but never reported built: look at the console and the last progress event',
  installed: 'the installed system did not answer SSH with the reported host key: check the boot order and the network of the installed OS',
  converging: 'convergence did not finish: look at the last converge step event',
};
