import type { BootView, MachineDirectory } from '../model/boot.js';
import type { InstallRecord, Progress, ProgressSummary } from '../model/progress.js';
import type { StoredEvent } from '../model/events.js';
import type { MachineStatus, State } from '../model/status.js';
import type { Reads } from '../reads/reads.js';
import type { EventLog } from './event-log.js';
import { LifecycleError } from '../model/errors.js';
import { INSTALL_PATH } from './table.js';

const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

/** What the API and the boot path are shown of a machine's lifecycle. */
export class Views implements MachineDirectory {
  constructor(
    private readonly reads: Reads,
    private readonly events: EventLog,
  ) {}

  async progress(name: string, eventLimit = 200): Promise<Progress> {
    const s = await this.reads.status(name);
    if (!s) throw new LifecycleError(`no machine named ${name}`, 'not-found');
    await this.events.flush();
    const recent = await this.reads.eventsTail({ machine: name, since: s.startedAt ?? 0, limit: eventLimit });
    return { ...summary(s, recent[recent.length - 1]), events: recent };
  }

  /** Every machine's progress with its last event: the console's machine list in one request. */
  async summaries(): Promise<ProgressSummary[]> {
    await this.events.flush();
    return Promise.all(
      (await this.reads.statuses()).map(async (s) => summary(s, (await this.reads.eventsTail({ machine: s.machine, since: s.startedAt ?? 0, limit: 1 }))[0])),
    );
  }

  /**
   * A machine's installs, newest first, from its state events (so as far back as events are
   * kept, events.retainDays). Moves after an install ended (an operator's converge) are not
   * part of it.
   */
  async installs(name: string): Promise<InstallRecord[]> {
    if (!(await this.reads.status(name))) throw new LifecycleError(`no machine named ${name}`, 'not-found');
    await this.events.flush();
    const installs: InstallRecord[] = [];
    for (let afterId = 0; ; ) {
      const page = await this.reads.events({ machine: name, afterId, limit: 1000 });
      for (const e of page) if (e.kind === 'state') record(installs, e);
      if (page.length < 1000) return installs.reverse();
      afterId = page[page.length - 1].id;
    }
  }

  /** The boot path's view of a machine (by MAC), for DHCP, TFTP and the iPXE script route. */
  async byMac(mac: string): Promise<BootView | undefined> {
    const r = await this.reads.recordByMac(mac);
    if (!r) return undefined;
    const { machine, profile, status } = r;
    return {
      name: machine.name,
      macs: machine.macs,
      netboot: status?.netboot ?? 'local',
      state: status?.state ?? 'registered',
      firmware: profile.firmware,
      arch: profile.arch,
      secureBoot: profile.secureBoot,
      os: profile.os,
      ipv4: machine.ipv4,
    };
  }
}

function summary(s: MachineStatus, lastEvent: StoredEvent | undefined): ProgressSummary {
  const idx = INSTALL_PATH.indexOf(s.phase ?? s.state);
  const step = s.state === 'registered' ? 0 : idx + 1;
  const of = INSTALL_PATH.length;
  return {
    machine: s.machine,
    state: s.state,
    phase: s.phase,
    reason: s.reason,
    hint: s.hint,
    step,
    of,
    percent: s.state === 'ready' ? 100 : Math.round(((step > 0 ? step - 1 : 0) / (of - 1)) * 100),
    startedAt: iso(s.startedAt),
    stateSince: iso(s.stateSince)!,
    deadline: iso(s.deadline),
    lastEvent,
  };
}

/** Adds one state event to the install it belongs to. */
function record(installs: InstallRecord[], e: StoredEvent): void {
  const { to, phase, reason } = (e.data ?? {}) as { to?: State; phase?: State; reason?: string };
  if (!to) return;
  if (to === 'reinstall-requested') return void installs.push({ startedAt: iso(e.at)!, state: to });
  const current = installs[installs.length - 1];
  if (!current || current.endedAt) return;
  current.state = to;
  if (to === 'ready' || to === 'failed') Object.assign(current, { endedAt: iso(e.at) }, to === 'failed' ? { phase, reason } : {});
}
