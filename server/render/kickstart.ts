import { BootUrls } from '../model/boot-urls.js';
import { rockyMirror } from './boot-args.js';
import { consoleArgs, renderKey, type RenderContext } from './context.js';
import type { RenderEnv } from './env.js';
import { lintKickstart, lintKickstartView } from './kickstart-lint.js';
import { assertRenderable } from './lint.js';
import { planNetwork } from './network-plan.js';
import { RenderError } from '../model/errors.js';
import { planStorage } from './storage-plan.js';

/** The Rocky mirror layout puts AppStream next to BaseOS; packages like podman live there. */
export function appStreamUrl(baseOs: string): string | null {
  return baseOs.includes('/BaseOS/') ? baseOs.replace('/BaseOS/', '/AppStream/') : null;
}

export function kickstartView(ctx: RenderContext) {
  const { machine, profile, config, token } = ctx;
  const urls = new BootUrls(ctx.urls.base);
  const mirror = rockyMirror(config, profile.arch);
  // the installed system's kernel arguments: the profile's plus the machine's serial console
  const append = [...profile.kernelArgs, ...consoleArgs(machine)];
  return {
    hostname: machine.name,
    profile: profile.name,
    firmware: profile.firmware,
    timezone: profile.timezone,
    ntp: profile.ntp,
    install: { url: mirror, appstream: appStreamUrl(mirror) },
    repos: profile.repos,
    network: planNetwork(machine, profile).lines.map((l) => ({
      ...l,
      bootproto: l.ipv4 === 'none' ? null : l.ipv4,
      noipv4: l.ipv4 === 'none',
    })),
    storage: planStorage(profile),
    bootloaderAppend: append.length ? append.join(' ') : null,
    rootPasswordHash: profile.rootPasswordHash ?? null,
    rootKeys: ctx.convergerPublicKey ? [ctx.convergerPublicKey.trim()] : [],
    users: profile.users.map((u) => ({
      name: u.name,
      groups: u.groups.length ? u.groups.join(',') : null,
      passwordHash: u.passwordHash ?? null,
      sshKeys: u.sshKeys,
    })),
    packages: profile.packages,
    // the install's %pre runs the inventory agent with the install token (see callbacks.hbs)
    inventory: { agent: urls.agent(), base: urls.base, token, lldpWait: String(config.discovery.lldpWaitSeconds) },
    callbacks: {
      start: urls.callback('start', token),
      progress: urls.callback('progress', token),
      hostkeys: urls.callback('hostkeys', token),
      built: urls.callback('built', token),
      failed: urls.callback('failed', token),
    },
  };
}

/** The Rocky 9 kickstart of one install; throws RenderError with every problem found. */
export function renderKickstart(ctx: RenderContext, env: RenderEnv): string {
  if (ctx.profile.os !== 'rocky-9') throw new RenderError([{ path: 'os', message: `profile ${ctx.profile.name} installs ${ctx.profile.os}, not a kickstart OS` }]);
  return env.memoize('templates', renderKey('kickstart', ctx), ctx.token, (token) => {
    assertRenderable(ctx);
    // every value the template prints must stay on its line and inside its quotes
    const view = kickstartView({ ...ctx, token });
    const unsafe = lintKickstartView(view);
    if (unsafe.length) throw new RenderError(unsafe);
    const text = env.render('templates', `kickstart/${ctx.profile.os}.ks`, view);
    const problems = lintKickstart(text, { firmware: ctx.profile.firmware });
    if (problems.length) throw new RenderError(problems);
    return text;
  });
}
