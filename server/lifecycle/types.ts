/**
 * Types shared by the lifecycle and the code that reports to it. Protocol code (dhcp, tftp,
 * http boot routes) imports only these: it reports events and reads a BootView, it never
 * touches the store or writes a machine's state.
 */

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

/** What a netboot request from this machine should get now. */
export type Netboot = 'install' | 'local';

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
  version: number;
}

export type EventLevel = 'debug' | 'info' | 'warn' | 'error';

export type EventKind =
  | 'state'
  | 'power'
  | 'dhcp'
  | 'tftp'
  | 'ipxe-script'
  | 'asset'
  | 'kickstart'
  | 'ignition'
  | 'callback'
  | 'converge'
  | 'render'
  | 'inventory';

export interface BootEvent {
  machine?: string;
  mac?: string;
  ip?: string;
  kind: EventKind;
  level: EventLevel;
  message: string;
  data?: Record<string, unknown>;
}

export interface StoredEvent extends BootEvent {
  id: number;
  at: number;
}

/** Where protocol code reports what it saw. Must not throw and must not block the caller. */
export interface EventSink {
  report(event: BootEvent): void;
}

/** What the boot path needs to know about a machine, by MAC. */
export interface BootView {
  name: string;
  macs: string[];
  netboot: Netboot;
  state: State;
  firmware: 'bios' | 'uefi';
  arch: 'x86_64' | 'aarch64';
  os: 'rocky-9' | 'fcos';
  /** static reservation (address/prefix) when the machine has one */
  ipv4?: { address: string; gateway?: string; dns: string[] };
}

export interface MachineDirectory {
  byMac(mac: string): Promise<BootView | undefined>;
}
