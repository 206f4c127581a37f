import type { Config } from '../config/schema.js';
import type { Problem } from '../model/errors.js';
import type { IpxeKind, Renderers, RenderInput, ScriptInput } from '../model/renderers.js';
import type { ScriptRequest } from './boot-args.js';
import type { RenderContext } from './context.js';
import { renderEnvFromConfig } from './env.js';
import { renderDiscoveryKickstart } from './discovery.js';
import { renderGrub } from './grub.js';
import { renderIgnition } from './ignition.js';
import { renderIpxe } from './ipxe.js';
import { renderKickstart } from './kickstart.js';

/**
 * The Renderers of server/render, over one template environment (cached, reloaded on edit). Every
 * template is compiled here, before the first machine asks; those that do not compile are told to
 * `uncompiled` (their renders fail as they would have, naming the file).
 */
export function createRenderers(config: Config, convergerPublicKey: string, uncompiled?: (problems: Problem[]) => void): Renderers {
  const env = renderEnvFromConfig(config);
  const problems = env.warm();
  if (problems.length) uncompiled?.(problems);
  const ctx = (i: RenderInput): RenderContext => ({ machine: i.machine, profile: i.profile, config, token: i.token, urls: { base: i.base }, convergerPublicKey });
  /** One boot situation, whichever format renders it. */
  const request = (kind: IpxeKind, i: ScriptInput): ScriptRequest => {
    const urls = { base: i.base };
    switch (kind) {
      case 'install':
        return { kind, ctx: ctx({ machine: i.machine!, profile: i.profile!, token: i.token!, base: i.base }) };
      case 'local':
        return { kind, name: i.machine!.name, firmware: i.profile!.firmware, arch: i.profile!.arch, urls };
      case 'unknown':
        return { kind, mac: i.mac, urls };
      case 'discover':
        return { kind, mac: i.mac, token: i.token!, urls, config };
      case 'error':
        return { kind, name: i.machine?.name ?? i.mac, mac: i.mac, problems: [{ path: 'render', message: i.error ?? 'unknown error' }], urls };
    }
  };
  return {
    ipxe: (kind, i) => renderIpxe(request(kind, i), env),
    grub: (kind, i) => renderGrub(request(kind, i), env),
    grubLookup: () => renderGrub({ kind: 'lookup' }, env),
    config(kind, i) {
      return kind === 'kickstart' ? renderKickstart(ctx(i), env) : renderIgnition(ctx(i), env);
    },
    discoveryKickstart: (i) => renderDiscoveryKickstart(i, config, env),
    agent: () => env.text('templates', 'discovery/agent.sh'),
  };
}
