import type { Config } from '../config/schema.js';
import type { Renderers, RenderInput } from '../model/renderers.js';
import type { RenderContext } from './context.js';
import { renderEnvFromConfig } from './env.js';
import { renderDiscoveryKickstart } from './discovery.js';
import { renderGrub } from './grub.js';
import { renderIgnition } from './ignition.js';
import { renderIpxe } from './ipxe.js';
import { renderKickstart } from './kickstart.js';

/** The Renderers of server/render, over one template environment (cached, reloaded on edit). */
export function createRenderers(config: Config, convergerPublicKey: string): Renderers {
  const env = renderEnvFromConfig(config);
  const ctx = (i: RenderInput): RenderContext => ({ machine: i.machine, profile: i.profile, config, token: i.token, urls: { base: i.base }, convergerPublicKey });
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
        case 'discover':
          return renderIpxe({ kind, mac: i.mac, token: i.token!, urls, config }, env);
        case 'error':
          return renderIpxe({ kind, name: i.machine?.name ?? i.mac, mac: i.mac, problems: [{ path: 'render', message: i.error ?? 'unknown error' }], urls }, env);
      }
    },
    grub(kind, i) {
      const urls = { base: i.base };
      switch (kind) {
        case 'install':
          return renderGrub({ kind, ctx: ctx({ machine: i.machine!, profile: i.profile!, token: i.token!, base: i.base }) }, env);
        case 'local':
          return renderGrub({ kind, name: i.machine!.name, urls }, env);
        case 'unknown':
          return renderGrub({ kind, mac: i.mac, urls }, env);
        case 'discover':
          return renderGrub({ kind, mac: i.mac, token: i.token!, urls, config }, env);
        case 'error':
          return renderGrub({ kind, name: i.machine?.name ?? i.mac, mac: i.mac, problems: [{ path: 'render', message: i.error ?? 'unknown error' }], urls }, env);
      }
    },
    grubLookup: () => renderGrub({ kind: 'lookup' }, env),
    config(kind, i) {
      return kind === 'kickstart' ? renderKickstart(ctx(i), env) : renderIgnition(ctx(i), env);
    },
    discoveryKickstart: (i) => renderDiscoveryKickstart(i, config, env),
    agent: () => env.text('templates', 'discovery/agent.sh'),
  };
}
