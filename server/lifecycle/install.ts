import type { CallbackEvent } from '../model/boot-urls.js';
import { type Clock, systemClock } from '../model/clock.js';
import { LifecycleError } from '../model/errors.js';
import { printable } from '../model/text.js';
import type { MachineStatus } from '../model/status.js';
import type { InstallToken } from '../model/token.js';
import type { MachineRecord, Reads } from '../reads/reads.js';
import type { EventLog } from './event-log.js';
import type { Lifecycle } from './lifecycle.js';
import { tokenAllows, type TokenUse } from './tokens.js';

export type TokenCheck = { ok: true; token: InstallToken; record: MachineRecord } | { ok: false; reason: string };

const HOST_KEY = /^(ssh-(ed25519|rsa)|ecdsa-sha2-nistp\d+) [A-Za-z0-9+/=]+$/;

/** OpenSSH public key lines of a hostkeys callback body, comments dropped. */
export function parseHostKeys(body: string): string[] {
  return body
    .split('\n')
    .map((l) => l.trim().split(/\s+/).slice(0, 2).join(' '))
    .filter((l) => HOST_KEY.test(l));
}

/** The installer's side of an install: its token, what the token allows, and its callbacks. */
export class Installs {
  private readonly clock: Clock;

  constructor(
    private readonly lifecycle: Lifecycle,
    private readonly reads: Reads,
    private readonly events: EventLog,
    clock?: Clock,
  ) {
    this.clock = clock ?? systemClock;
  }

  /** Checks a token for a config fetch or a callback; returns the machine or why not. */
  async checkToken(token: string, use: TokenUse): Promise<TokenCheck> {
    const t = await this.reads.token(token);
    const record = t && (await this.reads.record(t.machine));
    const s = record?.status;
    const why =
      tokenAllows(t, s?.installId, use, this.clock.now()) ??
      (!record ? 'the machine of this token is gone' : use === 'fetch' && s?.netboot !== 'install' ? 'the install of this token has ended' : undefined);
    return why ? { ok: false, reason: why } : { ok: true, token: t!, record: record! };
  }

  /** The token an install script embeds, while the machine is to be installed. */
  async installToken(name: string): Promise<InstallToken | undefined> {
    return (await this.reads.record(name))?.token;
  }

  /** Installer callbacks: start, progress, hostkeys, built, failed. */
  async callback(token: InstallToken, event: CallbackEvent, body: string, query: { step?: string }): Promise<MachineStatus> {
    const name = token.machine;
    const report = (message: string, level: 'info' | 'warn' | 'error' = 'info', data?: Record<string, unknown>) =>
      this.events.append({ machine: name, kind: 'callback', level, message, data: { event, ...data } });
    switch (event) {
      case 'start':
        await report('installer started');
        return (await this.lifecycle.step(name, { kind: 'callback', event })).status;
      case 'progress':
        const step = query.step === undefined ? undefined : printable(query.step);
        await report(`progress: ${step ?? 'step'}${body ? ` — ${printable(body.slice(0, 500))}` : ''}`, 'info', { step });
        return this.lifecycle.current(name);
      case 'hostkeys': {
        const keys = parseHostKeys(body);
        if (!keys.length) throw new LifecycleError('hostkeys: no OpenSSH public key lines in the body', 'invalid');
        const s = await this.lifecycle.recordHostKeys(name, keys);
        await report(`host keys reported: ${keys.map((k) => k.split(' ')[0]).join(', ')}`, 'info', { keys });
        return s;
      }
      case 'built':
        await report('installer reported built');
        return (await this.lifecycle.step(name, { kind: 'callback', event })).status;
      case 'failed':
        await report('installer reported failed', 'error', { log: printable(body.slice(-8192), { multiline: true }) });
        return (await this.lifecycle.step(name, { kind: 'callback', event })).status;
    }
  }
}
