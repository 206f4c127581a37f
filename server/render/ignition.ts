import { BootUrls } from '../model/boot-urls.js';
import { renderKey, type RenderContext } from './context.js';
import type { RenderEnv } from './env.js';
import { assertRenderable } from './lint.js';
import { RenderError } from '../model/errors.js';

/**
 * Ignition config for an FCOS install. The handlebars template arranges the document; the
 * pieces are built here as objects and printed with the `json` helper, so no profile value
 * can break the JSON. The result is parsed back: an operator template that emits broken JSON
 * fails the render instead of the machine's first boot.
 */
const REPORT_SCRIPT = '/usr/local/bin/kickstand-report';
const REPORT_UNIT = 'kickstand-report.service';

/** systemd's path escaping (systemd-escape --path): /var/srv → var-srv, '-' → \x2d. */
export function systemdPathUnit(path: string, suffix: string): string {
  const trimmed = path.replace(/^\/+|\/+$/g, '').replace(/\/+/g, '/');
  if (!trimmed) return `-.${suffix}`;
  const escaped = [...trimmed]
    .map((c, i) =>
      c === '/' ? '-' : /[A-Za-z0-9:_]/.test(c) || (c === '.' && i > 0) ? c : [...Buffer.from(c)].map((b) => `\\x${b.toString(16).padStart(2, '0')}`).join(''),
    )
    .join('');
  return `${escaped}.${suffix}`;
}

function dataUrl(contents: string): string {
  return `data:,${encodeURIComponent(contents)}`;
}

function file(path: string, contents: string, mode: number) {
  return { path, mode, overwrite: true, contents: { source: dataUrl(contents) } };
}

export function ignitionView(ctx: RenderContext, env: RenderEnv) {
  const { machine, profile, token } = ctx;
  const urls = new BootUrls(ctx.urls.base);
  const extras = profile.ignition;
  const disks = profile.disks;
  const data = profile.storage.data.map((v) => ({ ...v, label: v.label ?? v.disk, path: disks.find((d) => d.name === v.disk)?.path ?? v.disk }));

  const root = {
    name: 'root',
    ...(profile.rootPasswordHash ? { passwordHash: profile.rootPasswordHash } : {}),
    sshAuthorizedKeys: ctx.convergerPublicKey ? [ctx.convergerPublicKey.trim()] : [],
  };
  const users = profile.users.map((u) => ({
    name: u.name,
    ...(u.passwordHash ? { passwordHash: u.passwordHash } : {}),
    ...(u.groups.length ? { groups: u.groups } : {}),
    sshAuthorizedKeys: u.sshKeys,
  }));

  const script = env.render('ignition', 'kickstand-report.sh', {
    hostname: machine.name,
    callbacks: { hostkeys: urls.callback('hostkeys', token), built: urls.callback('built', token) },
  });
  return {
    version: extras?.version ?? '3.3.0',
    users: [...(root.sshAuthorizedKeys.length || root.passwordHash ? [root] : []), ...users],
    disks: data.map((v) => ({
      device: v.path,
      wipeTable: true,
      partitions: [{ number: 1, label: v.label, sizeMiB: 0, wipePartitionEntry: true }],
    })),
    filesystems: data.map((v) => ({
      device: `/dev/disk/by-partlabel/${v.label}`,
      format: v.fstype,
      label: v.label,
      path: v.mount,
      wipeFilesystem: true,
    })),
    files: [
      file('/etc/hostname', `${machine.name}\n`, 0o644),
      // holds the install token: readable by root only
      file(REPORT_SCRIPT, script, 0o700),
      ...(extras?.files ?? []).map((f) => file(f.path, f.contents, f.mode)),
    ],
    units: [
      { name: REPORT_UNIT, enabled: true, contents: env.render('ignition', 'kickstand-report.service', { script: REPORT_SCRIPT }) },
      ...data.map((v) => ({
        name: systemdPathUnit(v.mount, 'mount'),
        enabled: true,
        contents: env.render('ignition', 'data.mount', { label: v.label, mount: v.mount, fstype: v.fstype }),
      })),
      ...(extras?.units ?? []).map((u) => ({ name: u.name, enabled: u.enabled, ...(u.contents !== undefined ? { contents: u.contents } : {}) })),
    ],
  };
}

/** The Ignition config (JSON) of one FCOS install; throws RenderError with every problem found. */
export function renderIgnition(ctx: RenderContext, env: RenderEnv): string {
  if (ctx.profile.os !== 'fcos') throw new RenderError([{ path: 'os', message: `profile ${ctx.profile.name} installs ${ctx.profile.os}, not an Ignition OS` }]);
  return env.memoize('ignition', renderKey('ignition', ctx), ctx.token, (token) => {
    assertRenderable(ctx);
    const text = env.render('ignition', 'fcos.ign', ignitionView({ ...ctx, token }, env));
    try {
      return `${JSON.stringify(JSON.parse(text), null, 2)}\n`;
    } catch (err) {
      throw new RenderError([{ path: 'ignition/fcos.ign.hbs', message: `does not render to JSON: ${(err as Error).message}` }]);
    }
  });
}
