import type { Config } from '../config/schema.js';
import type { Machine } from '../inventory/machine.js';
import type { Profile } from '../inventory/profile.js';
import type { RenderContext } from '../render/context.js';
import { renderEnvFromConfig } from '../render/env.js';
import { renderIgnition } from '../render/ignition.js';
import { renderIpxe } from '../render/ipxe.js';
import { renderKickstart } from '../render/kickstart.js';
import { RenderError } from '../render/problems.js';

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

/** The Renderers of server/render, over one template environment (cached, reloaded on edit). */
export function createRenderers(config: Config, convergerPublicKey: string): Renderers {
  const env = renderEnvFromConfig(config);
  const ctx = (i: RenderInput): RenderContext => ({ machine: i.machine, profile: i.profile, config, token: i.token, urls: { base: i.base }, convergerPublicKey });
  const failure = (err: unknown) => (err instanceof RenderError ? new RenderFailure(err.message) : err);
  return {
    ipxe(kind, i) {
      const urls = { base: i.base };
      switch (kind) {
        case 'install':
          return renderIpxe({ kind, ctx: ctx({ machine: i.machine!, profile: i.profile!, token: i.token!, base: i.base }) }, env);
        case 'local':
          return renderIpxe({ kind, name: i.machine!.name, firmware: i.profile!.firmware, urls }, env);
        case 'unknown':
          return renderIpxe({ kind, mac: i.mac, urls }, env);
        case 'error':
          return renderIpxe({ kind, name: i.machine?.name ?? i.mac, mac: i.mac, problems: [{ path: 'render', message: i.error ?? 'unknown error' }], urls }, env);
      }
    },
    config(kind, i) {
      try {
        return kind === 'kickstart' ? renderKickstart(ctx(i), env) : renderIgnition(ctx(i), env);
      } catch (err) {
        throw failure(err);
      }
    },
  };
}
