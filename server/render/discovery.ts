import type { Config } from '../config/schema.js';
import { BootUrls } from '../model/boot-urls.js';
import { RenderError } from '../model/errors.js';
import type { RenderEnv } from './env.js';
import { lintValues } from './kickstart-lint.js';
import { baseUrlProblem } from './lint.js';

/**
 * The kickstart of a discovery boot: no install commands, one %pre that fetches and runs the
 * inventory agent with this boot's token. The token and base URL are checked like any kickstart
 * value, since the base comes from the request's Host header.
 */
export function renderDiscoveryKickstart(input: { base: string; token: string }, config: Config, env: RenderEnv): string {
  const baseProblem = baseUrlProblem(input.base);
  if (baseProblem) throw new RenderError([baseProblem]);
  const urls = new BootUrls(input.base);
  const view = { agentUrl: urls.agent(), base: urls.base, token: input.token, interval: String(config.discovery.pollSeconds), lldpWait: String(config.discovery.lldpWaitSeconds) };
  const problems = lintValues(view, (path) => (path === 'agentUrl' || path === 'base' ? 'url' : 'word'));
  if (problems.length) throw new RenderError(problems.map((p) => ({ ...p, message: `discovery kickstart value ${p.path} ${p.message}` })));
  return env.render('templates', 'kickstart/discovery.ks', view);
}
