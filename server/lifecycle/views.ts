import type { BootView, MachineDirectory } from '../model/boot.js';
import type { Progress } from '../model/progress.js';
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
    const idx = INSTALL_PATH.indexOf(s.phase ?? s.state);
    const step = s.state === 'registered' ? 0 : idx + 1;
    const of = INSTALL_PATH.length;
    return {
      machine: name,
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
      lastEvent: recent[recent.length - 1],
      events: recent,
    };
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
      os: profile.os,
      ipv4: machine.ipv4,
    };
  }
}
      secureBoot: profile.secureBoot,
