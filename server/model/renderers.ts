import type { Machine } from './machine.js';
import type { Profile } from './profile.js';

export interface RenderInput {
  machine: Machine;
  profile: Profile;
  token: string;
  /** kickstand's base URL as this machine reached it, e.g. http://10.0.0.1:8080 */
  base: string;
}

export type IpxeKind = 'install' | 'local' | 'unknown' | 'discover' | 'error';
/** The boot script formats: iPXE scripts, and GRUB configurations for the signed (shim → GRUB) path. */
export type ScriptFormat = 'ipxe' | 'grub';
export interface ScriptInput {
  mac: string;
  base: string;
  machine?: Machine;
  profile?: Profile;
  token?: string;
  error?: string;
}
export type ConfigKind = 'kickstart' | 'ignition';

/** What the boot routes and the render preview need from server/render. All pure and synchronous. */
export interface Renderers {
  ipxe(kind: IpxeKind, input: ScriptInput): string;
  /** The per-MAC GRUB configuration (grub/grub.cfg-01-<mac>), by the same kinds as the iPXE scripts. */
  grub(kind: IpxeKind, input: ScriptInput): string;
  /** grub/grub.cfg, the same for every machine: it sends GRUB on to the per-MAC file. */
  grubLookup(): string;
  /** Throws RenderError when the machine cannot be rendered. */
  config(kind: ConfigKind, input: RenderInput): string;
  /** The kickstart of a discovery boot: its %pre runs the inventory agent with this token. */
  discoveryKickstart(input: { base: string; token: string }): string;
  /** The inventory agent script (templates/discovery/agent.sh, or the operator's). */
  agent(): string;
}

/** The config format a profile's OS installs from. */
export const configKindOf = (profile: Profile): ConfigKind => (profile.os === 'fcos' ? 'ignition' : 'kickstart');
