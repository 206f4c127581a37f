import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { loadInventory } from '../inventory/load.js';
import type { StoredEvent } from '../model/events.js';
import type { Progress } from '../model/progress.js';
import { printable } from '../model/text.js';
import { Client, clientSettings } from './client.js';
import { type Explanation, type HardwareView, explanation, hardwareSummary, progressBar, table } from './format.js';
import { serve } from './serve.js';

export interface Flags {
  config?: string;
  file?: string;
  url?: string;
  token?: string;
  json?: boolean;
  prune?: boolean;
  'dry-run'?: boolean;
  wait?: boolean;
  force?: boolean;
  timeout?: string;
  name?: string;
  profile?: string;
  reinstall?: boolean;
  ipv4?: string;
  gateway?: string;
}

/** A command returns its exit code; -1 means "keep running" (serve). */
type Command = (args: string[], flags: Flags) => Promise<number>;

const out = (s: string) => process.stdout.write(s.endsWith('\n') ? s : `${s}\n`);
const client = (f: Flags) => {
  const { url, token } = clientSettings(f);
  return new Client(url, token);
};
const need = (v: string | undefined, what: string): string => {
  if (!v) throw new Error(`missing ${what}`);
  return v;
};
const enc = encodeURIComponent;

function progressLine(p: Progress): string {
  const where = p.state === 'failed' ? `failed in ${p.phase}: ${printable(p.reason ?? '')}${p.hint ? `\n  hint: ${p.hint}` : ''}` : p.state;
  return `${p.machine}  ${progressBar(p.percent)}  step ${p.step}/${p.of}  ${where}`;
}

function eventLine(e: StoredEvent): string {
  return `  ${new Date(e.at).toISOString().slice(11, 19)}  ${e.level.padEnd(5)}  ${e.kind.padEnd(11)}  ${printable(e.message)}`;
}

/** Follows a machine until it rests (ready/failed/registered); returns the final progress. */
async function follow(c: Client, name: string, f: Flags, print: boolean): Promise<Progress> {
  const timeoutMs = f.timeout ? Number(f.timeout) * 1000 : 4 * 3600 * 1000;
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  const resting = (s: string) => ['ready', 'failed', 'registered'].includes(s);
  try {
    let p = await c.request<Progress>('GET', `/api/v1/machines/${enc(name)}/progress`);
    if (print) {
      out(progressLine(p));
      p.events.forEach((e) => out(eventLine(e)));
    }
    if (resting(p.state) && !f.wait) return p;
    const lastId = p.events.at(-1)?.id ?? 0;
    await c
      .stream(
        `/api/v1/events?machine=${enc(name)}&lastEventId=${lastId}`,
        (e) => {
          if (print) out(eventLine(e));
          if (e.kind !== 'state') return false;
          const to = e.data?.to as string;
          if (print) out(`${name}  → ${to}`);
          return to === 'ready' || to === 'failed';
        },
        abort.signal,
      )
      .catch((err: Error) => {
        if (err.name !== 'AbortError') throw err;
      });
    p = await c.request<Progress>('GET', `/api/v1/machines/${enc(name)}/progress`);
    if (print) out(progressLine(p));
    return p;
  } finally {
    clearTimeout(timer);
  }
}

export const commands: Record<string, Command> = {
  serve: (_args, f) => serve(f.config),

  async apply(_args, f) {
    const inv = await loadInventory(need(f.file, '-f DIR'));
    const c = client(f);
    const body = { machines: inv.machines, profiles: inv.profiles, rules: inv.rules, prune: !!f.prune };
    const plan = await c.request<{ plan: { kind: string; name: string; action: string }[] }>('POST', '/api/v1/apply', { ...body, dryRun: true });
    if (f.json && f['dry-run']) return out(JSON.stringify(plan, null, 2)), 0;
    out(table(plan.plan, ['action', 'kind', 'name']));
    const changes = plan.plan.filter((p) => p.action !== 'unchanged');
    out(`plan: ${changes.length} change(s), ${plan.plan.length - changes.length} unchanged`);
    if (f['dry-run'] || !changes.length) return 0;
    const done = await c.request<{ plan: unknown[] }>('POST', '/api/v1/apply', { ...body, dryRun: false });
    out(f.json ? JSON.stringify(done, null, 2) : `applied ${changes.length} change(s)`);
    return 0;
  },

  async machine([sub, arg], f) {
    const c = client(f);
    switch (sub) {
      case 'list': {
        const ms = await c.request<Record<string, unknown>[]>('GET', '/api/v1/machines');
        out(f.json ? JSON.stringify(ms, null, 2) : table(ms, ['name', 'state', 'profile', 'macs']));
        return 0;
      }
      case 'show':
        out(JSON.stringify(await c.request('GET', `/api/v1/machines/${enc(need(arg, 'NAME'))}`), null, 2));
        return 0;
      case 'hardware': {
        const hw = await c.request<HardwareView>('GET', `/api/v1/machines/${enc(need(arg, 'NAME'))}/hardware`);
        out(f.json ? JSON.stringify(hw, null, 2) : hardwareSummary(hw));
        return 0;
      }
      case 'add': {
        const doc = parse(await readFile(need(f.file, '-f FILE'), 'utf8')) as Record<string, unknown>;
        delete doc.kind;
        const m = await c.request<{ name: string }>('PUT', `/api/v1/machines/${enc(String(doc.name))}`, doc);
        out(f.json ? JSON.stringify(m, null, 2) : `machine ${m.name} saved`);
        return 0;
      }
      case 'rm':
        await c.request('DELETE', `/api/v1/machines/${enc(need(arg, 'NAME'))}`);
        out(`machine ${arg} deleted`);
        return 0;
      default:
        throw new Error('usage: kickstand machine list|show NAME|hardware NAME|add -f FILE|rm NAME');
    }
  },

  async profile([sub, arg], f) {
    const c = client(f);
    if (sub === 'list') {
      const ps = await c.request<Record<string, unknown>[]>('GET', '/api/v1/profiles');
      out(f.json ? JSON.stringify(ps, null, 2) : table(ps, ['name', 'os', 'firmware', 'arch']));
      return 0;
    }
    if (sub === 'show') {
      out(JSON.stringify(await c.request('GET', `/api/v1/profiles/${enc(need(arg, 'NAME'))}`), null, 2));
      return 0;
    }
    throw new Error('usage: kickstand profile list|show NAME');
  },

  async rule([sub, arg], f) {
    const c = client(f);
    switch (sub) {
      case 'list': {
        const rs = await c.request<Record<string, unknown>[]>('GET', '/api/v1/rules');
        out(f.json ? JSON.stringify(rs, null, 2) : table(rs, ['name', 'priority', 'profile', 'accept', 'machineName', 'maxCount']));
        return 0;
      }
      case 'show':
        out(JSON.stringify(await c.request('GET', `/api/v1/rules/${enc(need(arg, 'NAME'))}`), null, 2));
        return 0;
      case 'rm':
        await c.request('DELETE', `/api/v1/rules/${enc(need(arg, 'NAME'))}`);
        out(`rule ${arg} deleted`);
        return 0;
      case 'test': {
        const verdicts = await c.request<Explanation>('GET', `/api/v1/discovered/${enc(need(arg, 'ID'))}/rules`);
        out(f.json ? JSON.stringify(verdicts, null, 2) : explanation(arg, verdicts));
        return 0;
      }
      default:
        throw new Error('usage: kickstand rule list|show NAME|rm NAME|test ID');
    }
  },

  async discovered([sub, id], f) {
    const c = client(f);
    const usage =
      'usage: kickstand discovered list|show ID|accept ID [--name NAME --profile PROFILE [--reinstall] [--ipv4 CIDR [--gateway IP]]]|reject ID|rm ID';
    switch (sub) {
      case 'list': {
        const es = await c.request<Record<string, unknown>[]>('GET', '/api/v1/discovered');
        out(f.json ? JSON.stringify(es, null, 2) : table(es, ['id', 'state', 'summary', 'rule', 'macs', 'seenAt']));
        return 0;
      }
      case 'show':
        out(JSON.stringify(await c.request('GET', `/api/v1/discovered/${enc(need(id, 'ID'))}`), null, 2));
        return 0;
      case 'accept': {
        need(id, 'ID');
        if (f.gateway && !f.ipv4) throw new Error('--gateway needs --ipv4 CIDR');
        // No --name/--profile: an empty body, which makes a box cabled into a machine's slot that machine.
        const replace = !f.name && !f.profile && !f.ipv4 && !f.reinstall;
        const body = replace
          ? {}
          : {
              name: need(f.name, '--name NAME'),
              profile: need(f.profile, '--profile PROFILE'),
              ...(f.reinstall ? { reinstall: true } : {}),
              ...(f.ipv4 ? { ipv4: { address: f.ipv4, ...(f.gateway ? { gateway: f.gateway } : {}) } } : {}),
            };
        const r = await c.request<{ machine: { name: string; profile: string }; reinstall: boolean }>('POST', `/api/v1/discovered/${enc(id)}/accept`, body);
        out(f.json ? JSON.stringify(r, null, 2) : `accepted ${id} as machine ${r.machine.name} (profile ${r.machine.profile})${r.reinstall ? ', reinstalling' : ''}`);
        return 0;
      }
      case 'reject': {
        const e = await c.request('POST', `/api/v1/discovered/${enc(need(id, 'ID'))}/reject`);
        out(f.json ? JSON.stringify(e, null, 2) : `rejected ${id}: its agent is told to power off`);
        return 0;
      }
      case 'rm':
        await c.request('DELETE', `/api/v1/discovered/${enc(need(id, 'ID'))}`);
        out(`discovered ${id} deleted`);
        return 0;
      default:
        throw new Error(usage);
    }
  },

  async reinstall([name], f) {
    const c = client(f);
    const r = await c.request<{ installId: string }>('POST', `/api/v1/machines/${enc(need(name, 'NAME'))}/reinstall${f.force ? '?force=true' : ''}`);
    if (!f.wait) {
      out(f.json ? JSON.stringify(r) : `${name}: reinstall requested (install ${r.installId}); follow it with: kickstand watch ${name}`);
      return 0;
    }
    const p = await follow(c, name, { ...f, wait: true }, !f.json);
    if (f.json) out(JSON.stringify(p, null, 2));
    if (p.state === 'ready') return 0;
    process.stderr.write(`${name}: ${p.state === 'failed' ? `failed in ${p.phase}: ${printable(p.reason ?? '')}` : `still ${p.state}`}\n`);
    return 1;
  },

  async cancel([name], f) {
    const r = await client(f).request<{ state: string }>('POST', `/api/v1/machines/${enc(need(name, 'NAME'))}/cancel`);
    out(`${name}: ${r.state}`);
    return 0;
  },

  async watch([name], f) {
    const p = await follow(client(f), need(name, 'NAME'), { ...f, wait: true }, true);
    return p.state === 'failed' ? 1 : 0;
  },

  async progress([name], f) {
    const p = await client(f).request<Progress>('GET', `/api/v1/machines/${enc(need(name, 'NAME'))}/progress`);
    if (f.json) out(JSON.stringify(p, null, 2));
    else {
      out(progressLine(p));
      p.events.forEach((e) => out(eventLine(e)));
    }
    return 0;
  },

  async render([name, kind], f) {
    out(await client(f).request<string>('GET', `/api/v1/machines/${enc(need(name, 'NAME'))}/render/${enc(need(kind, 'KIND (ipxe|kickstart|ignition)'))}`));
    return 0;
  },

  async converge([mode, name], f) {
    if (!['plan', 'apply', 'audit'].includes(mode)) throw new Error('usage: kickstand converge plan|apply|audit NAME');
    const r = await client(f).request<{ ok: boolean; steps: { name: string; kind: string; status: string; detail?: string }[]; error?: { message: string } }>(
      'POST',
      `/api/v1/machines/${enc(need(name, 'NAME'))}/converge/${mode}`,
    );
    if (f.json) out(JSON.stringify(r, null, 2));
    else {
      out(table(r.steps, ['name', 'kind', 'status', 'detail']));
      if (r.error) out(`error: ${r.error.message}`);
    }
    return r.ok ? 0 : 1;
  },
};
