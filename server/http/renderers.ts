import type { Machine } from '../inventory/machine.js';
import type { Profile } from '../inventory/profile.js';

/** A render refused by lint or a template error; the message names the field or template. */
export class RenderFailure extends Error {}

export interface RenderInput {
  machine: Machine;
  profile: Profile;
  token: string;
}

export type IpxeKind = 'install' | 'local' | 'unknown' | 'error';

/** What the HTTP layer needs from server/render (wired in main.ts). All pure and synchronous. */
export interface Renderers {
  ipxe(kind: IpxeKind, input: { mac: string; machine?: Machine; profile?: Profile; token?: string; error?: string }): string;
  /** Throws RenderFailure when the machine cannot be rendered. */
  config(kind: 'kickstart' | 'ignition', input: RenderInput): string;
}
