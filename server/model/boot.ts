import type { Machine } from './machine.js';
import type { Profile } from './profile.js';
import type { Netboot, State } from './status.js';

/** The firmware mode a profile installs for (the DHCP side tells client architectures apart finer). */
export type Firmware = Profile['firmware'];

/** What the boot path needs to know about a machine, by MAC. */
export interface BootView {
  name: string;
  macs: string[];
  netboot: Netboot;
  state: State;
  firmware: Firmware;
  arch: Profile['arch'];
  /** UEFI Secure Boot: the signed shim → GRUB chain instead of iPXE (absent: off). */
  secureBoot?: boolean;
  os: Profile['os'];
  /** static reservation (address/prefix) when the machine has one */
  ipv4?: Machine['ipv4'];
}

/** The machine lookup the DHCP server depends on. */
export interface MachineDirectory {
  byMac(mac: string): Promise<BootView | undefined>;
}

/** Where protocol code reports which MAC uses an address (DHCP exchanges, iPXE script requests). */
export interface AddressSink {
  learn(ip: string, mac: string): void;
}
