import type { Machine } from '../inventory/machine.js';
import type { Profile } from '../inventory/profile.js';

/** A render refused by lint or a template error; the message names the field or template. */
export class RenderFailure extends Error {}

export interface RenderInput {
  machine: Machine;
  profile: Profile;
  token: string;
  /** kickstand's base URL as this machine reached it, e.g. http://10.0.0.1:8080 */
  base: string;
}

export type IpxeKind = 'install' | 'local' | 'unknown' | 'error';

/** What the HTTP layer needs from server/render (wired in main.ts). All pure and synchronous. */
export interface Renderers {
  ipxe(kind: IpxeKind, input: { mac: string; base: string; machine?: Machine; profile?: Profile; token?: string; error?: string }): string;
  /** Throws RenderFailure when the machine cannot be rendered. */
  config(kind: 'kickstart' | 'ignition', input: RenderInput): string;
}

/** The base URL machines use: configured, else the address they reached us at. */
export function baseUrl(publicUrl: string | undefined, host: string | undefined): string {
  return (publicUrl ?? `http://${host ?? '127.0.0.1'}`).replace(/\/+$/, '');
}
