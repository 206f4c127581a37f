import type { BootEvent } from '../model/events.js';
import { type MachineStatus, RESTING, type State, STATES } from '../model/status.js';

/**
 * The lifecycle as data: which transitions exist, and `decide`, the pure function from
 * (status, input) to the moves and effects that follow. No I/O here; the writer applies
 * moves, the lifecycle carries out effects, and tests walk the table without either.
 */

/** Anything not listed is a bug: the writer refuses it and tests walk the whole table. */
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
  'pxe-booting':
    'the machine got DHCP but never booted its installer: check TFTP/HTTP reachability and the firmware mode; with Secure Boot on, shim and GRUB refuse a kernel not signed for their chain (the console shows "bad shim signature"): serve the distribution\'s signed kernel',
  'installer-booting': 'the installer kernel started but never fetched its kickstart: check the initrd, inst.ks URL and the network in the installer',
  installing: 'the installer fetched its config but never reported built: look at the console and the last progress event',
  installed: 'the installed system did not answer SSH with the reported host key: check the boot order and the network of the installed OS',
  converging: 'convergence did not finish: look at the last converge step event',
};

/** What can happen to a machine. */
export type Input =
  | { kind: 'reinstall'; force: boolean; now: number }
  | { kind: 'power-started'; installId: string }
  | { kind: 'power-failed'; installId: string; reason: string }
  /** A protocol event (DHCP, TFTP, script, asset, config fetch, render error) seen for the machine. */
  | { kind: 'observed'; event: Pick<BootEvent, 'kind' | 'level' | 'message'> }
  | { kind: 'callback'; event: 'start' | 'built' | 'failed' }
  /** The install's own hardware report shows the profile does not fit: stop before anything is partitioned. */
  | { kind: 'misfit'; installId: string; reason: string }
  | { kind: 'cancel' }
  | { kind: 'deadline'; now: number }
  /** After `installed`: converge when a converger is wired, else the machine is ready at once. */
  | { kind: 'install-converge'; installId: string | undefined; converger: boolean }
  | { kind: 'operator-converge' }
  /** version: the status version the converge started from (it ran outside the lock). */
  | { kind: 'converge-done'; version: number; ok: boolean; reason?: string };

export interface Move {
  to: State;
  patch?: Partial<MachineStatus>;
  /** The state event's message; default "from → to" or "failed in phase: reason". */
  message?: string;
}

/** What the writer does with tokens in the same transaction, and what the lifecycle starts after. */
export type Effect = 'revoke-tokens' | 'issue-token' | 'power-cycle' | 'converge';

/**
 * The states whose effect runs after they are written, by the instance that wrote them (the
 * status' runner), until the next state: resumed by another instance when that runner is gone.
 */
export const IN_FLIGHT: Partial<Record<State, 'power-cycle' | 'converge'>> = {
  'reinstall-requested': 'power-cycle',
  'power-cycling': 'power-cycle',
  installed: 'converge',
  converging: 'converge',
};

export type Decision =
  | { kind: 'refuse'; code: 'busy' | 'invalid'; message: string }
  | { kind: 'stay' }
  | { kind: 'move'; moves: Move[]; effects: Effect[] };

const STAY: Decision = { kind: 'stay' };
const move = (moves: Move[], effects: Effect[] = []): Decision => ({ kind: 'move', moves, effects });
/** An install that ends takes its token with it: late callbacks are told 410, never change state. */
const fail = (s: MachineStatus, reason: string, hint?: string): Decision => move([failMove(s, reason, hint)], ['revoke-tokens']);

/** Failing keeps the phase that was active and stops network installs. */
export function failMove(s: MachineStatus, reason: string, hint?: string): Move {
  return { to: 'failed', patch: { phase: s.state, reason, hint: hint ?? DEADLINE_HINTS[s.state], netboot: 'local' } };
}

const isResting = (s: MachineStatus) => RESTING.includes(s.state);

/** Which state a protocol event shows the install has reached. */
function reachedBy(e: Pick<BootEvent, 'kind' | 'level'>): State | undefined {
  switch (e.kind) {
    case 'dhcp':
    case 'tftp':
    case 'ipxe-script':
      return 'pxe-booting';
    case 'asset':
      return 'installer-booting';
    case 'kickstart':
    case 'ignition':
      return e.level === 'error' ? undefined : 'installing';
    default:
      return undefined;
  }
}

export function decide(s: MachineStatus, input: Input): Decision {
  switch (input.kind) {
    case 'reinstall': {
      const start: Move = {
        to: 'reinstall-requested',
        patch: { netboot: 'install', hostKeys: [], startedAt: input.now, bootIp: undefined, installerIp: undefined },
        message: 'reinstall requested',
      };
      const effects: Effect[] = ['revoke-tokens', 'issue-token', 'power-cycle'];
      if (isResting(s)) return move([start], effects);
      if (!input.force) return { kind: 'refuse', code: 'busy', message: `${s.machine} is ${s.state}: a reinstall is already running (force it, or cancel first)` };
      return move([failMove(s, 'superseded by a forced reinstall'), start], effects);
    }
    case 'power-started':
      return s.installId === input.installId && s.state === 'reinstall-requested' ? move([{ to: 'power-cycling' }]) : STAY;
    case 'power-failed':
      return s.installId === input.installId && s.state === 'power-cycling'
        ? fail(s, input.reason, 'check the BMC address, credentials and TLS settings')
        : STAY;
    case 'observed': {
      if (s.netboot !== 'install') return STAY;
      const e = input.event;
      if (e.kind === 'render' && e.level === 'error')
        return isResting(s) ? STAY : fail(s, e.message, 'fix the profile or machine (see GET /api/v1/machines/{name}/render/…) and reinstall');
      const target = reachedBy(e);
      // Events repeat (every kickstart re-fetch, every asset): only a step forward moves.
      return target && INSTALL_PATH.indexOf(target) > INSTALL_PATH.indexOf(s.state) && canTransition(s.state, target) ? move([{ to: target }]) : STAY;
    }
    case 'callback':
      switch (input.event) {
        case 'start':
          return s.state !== 'installing' && canTransition(s.state, 'installing') ? move([{ to: 'installing' }]) : STAY;
        case 'built':
          return s.state !== 'installed' && canTransition(s.state, 'installed')
            ? move([{ to: 'installed', patch: { netboot: 'local' }, message: 'install finished: netboot is now local' }], ['revoke-tokens', 'converge'])
            : STAY;
        case 'failed':
          return isResting(s) ? STAY : fail(s, 'the installer reported failure', 'see the log tail in the callback event');
      }
      break;
    case 'misfit':
      return s.installId === input.installId && !isResting(s)
        ? fail(s, input.reason, "the profile does not fit this machine's hardware (GET /api/v1/machines/{name}/hardware): fix the profile and reinstall")
        : STAY;
    case 'cancel':
      return isResting(s)
        ? { kind: 'refuse', code: 'invalid', message: `${s.machine} is ${s.state}: nothing to cancel` }
        : fail(s, 'cancelled by the operator', 'reinstall again when ready');
    case 'deadline': {
      if (s.deadline === undefined || s.deadline > input.now) return STAY;
      const limit = Math.round((s.deadline - s.stateSince) / 1000);
      return fail(s, `deadline of ${limit} s for ${s.state} passed`);
    }
    case 'install-converge':
      if (s.state !== 'installed' || s.installId !== input.installId) return STAY;
      return input.converger ? move([{ to: 'converging' }]) : move([{ to: 'ready', message: 'installed; no converger configured' }]);
    case 'operator-converge':
      return s.state === 'ready' || s.state === 'failed'
        ? move([{ to: 'converging', message: 'converge apply requested' }])
        : { kind: 'refuse', code: 'busy', message: `${s.machine} is ${s.state}: converge apply needs ready or failed` };
    case 'converge-done':
      if (s.state !== 'converging' || s.version !== input.version) return STAY;
      return input.ok ? move([{ to: 'ready', message: 'converged: ready' }]) : fail(s, input.reason ?? 'converge failed');
  }
  return STAY;
}
