/** What protocol code, power drivers, the converger and the lifecycle report, and how it is stored. */

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
  | 'inventory'
  /** A new box took a machine's cabled slot. */
  | 'replaced';

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
  /** The kickstand instance that wrote it (config `instance`); absent on events from before names. */
  instance?: string;
}

/** Where protocol code reports what it saw. Must not throw and must not block the caller. */
export interface EventSink {
  report(event: BootEvent): void;
}
