import type { Firmware } from '../model/boot.js';
import type { Machine } from '../model/machine.js';
import type { EventSink } from '../model/events.js';
import { DEFAULT_SECRET_DIRS } from './credentials.js';
import { PowerError } from './errors.js';
import { ipmiDriver } from './ipmi.js';
import { manualDriver } from './manual.js';
import { redfishDriver, type RedfishAuth } from './redfish.js';
import { sshDriver, type RunSsh } from './ssh.js';

export type PowerState = 'on' | 'off';

/**
 * What the lifecycle asks of a machine's BMC. Every call settles within bmc.timeoutSeconds and
 * fails only with a PowerError. A reinstall is `bootOnceToPxe(firmware)` then `cycle()`:
 * the override is set first so that the reset that follows consumes it.
 */
export interface PowerDriver {
  status(): Promise<PowerState>;
  on(): Promise<void>;
  off(): Promise<void>;
  /** Restarts a machine that is on and powers on one that is off, so the next boot happens either way. */
  cycle(): Promise<void>;
  /** Makes the next boot (only the next one) a network boot in the given firmware mode. */
  bootOnceToPxe(firmware: Firmware): Promise<void>;
}

export interface PowerDeps {
  /** Where drivers report what they did, and where `manual` asks the operator to act. */
  sink: EventSink;
  /** The converger's SSH runner; required for machines whose driver is `ssh`. */
  runSsh?: RunSsh;
  /** Redfish authentication: a session (default; the password crosses the wire once) or Basic. */
  redfishAuth?: RedfishAuth;
  /** ipmitool binary; tests point it elsewhere. */
  ipmitool?: string;
  /**
   * The only directories bmc.passwordFile and bmc.tls.ca may point into (config secrets.dirs),
   * checked on the real path at each use; default DEFAULT_SECRET_DIRS (credentials.ts).
   */
  secretDirs?: readonly string[];
}

export function createPowerDriver(machine: Machine, deps: PowerDeps): PowerDriver {
  switch (machine.bmc.driver) {
    case 'redfish':
      return redfishDriver(machine, deps.sink, deps.redfishAuth ?? 'session', deps.secretDirs ?? DEFAULT_SECRET_DIRS);
    case 'ipmi':
      return ipmiDriver(machine, deps.sink, deps.ipmitool ?? 'ipmitool', deps.secretDirs ?? DEFAULT_SECRET_DIRS);
    case 'ssh':
      if (!deps.runSsh) throw new PowerError('config', `${machine.name}: power driver ssh needs the converger's SSH runner`);
      return sshDriver(machine, deps.sink, deps.runSsh);
    case 'manual':
      return manualDriver(machine, deps.sink);
  }
}
