import type { SubnetOwnership } from '../model/lease.js';
import { type AdvisoryLock, type AdvisoryLockOptions, holdAdvisoryLock } from './advisory-lock.js';
import { lockKey } from './instance-lock.js';

/** Another live instance answers this DHCP subnet, and this one is not a standby (dhcp.standby false). */
export class SubnetTaken extends Error {
  constructor(
    readonly subnet: string,
    readonly holder?: string,
  ) {
    super(
      `DHCP subnet ${subnet} is answered by another kickstand instance${holder ? ` (${holder})` : ''}: ` +
        'set dhcp.standby: true (KICKSTAND_DHCP_STANDBY=true) for this one to wait as its hot standby',
    );
    this.name = 'SubnetTaken';
  }
}

export interface SubnetClaims extends SubnetOwnership {
  /** Subnets answered now, and those waited for (another instance holds them, or the lock's connection is down). */
  roles(): { answering: string[]; standby: string[] };
  release(): Promise<void>;
}

export type SubnetClaimOptions = Pick<AdvisoryLockOptions, 'client' | 'graceMs' | 'retryMs' | 'heartbeatMs'> & { standby: boolean };

/**
 * One advisory lock per subnet (its CIDR: instances on different segments hold different ones),
 * each on a connection of its own. A subnet is answered by the instance holding its lock; a
 * standby tries every retryMs (one second) and answers from the moment it has it, so a holder
 * that dies (its session ends with its process) is replaced within about a second. Without
 * standby, a subnet held elsewhere at start is a configuration error: SubnetTaken.
 */
export async function claimSubnets(subnets: string[], opts: SubnetClaimOptions): Promise<SubnetClaims> {
  const listeners: Array<(subnet: string, answering: boolean, reason?: string) => void> = [];
  const tell = (subnet: string, answering: boolean, reason?: string) => listeners.forEach((fn) => fn(subnet, answering, reason));
  const locks = new Map<string, AdvisoryLock>();
  try {
    for (const subnet of new Set(subnets)) {
      const lock = await holdAdvisoryLock(lockKey('dhcp-subnet', subnet), {
        client: opts.client,
        graceMs: opts.graceMs,
        retryMs: opts.retryMs,
        heartbeatMs: opts.heartbeatMs,
        wait: opts.standby,
        what: `DHCP subnet ${subnet}`,
        taken: (holder) => new SubnetTaken(subnet, holder),
        onLost: (reason) => tell(subnet, false, reason),
        onRegained: () => tell(subnet, true),
      });
      locks.set(subnet, lock);
    }
  } catch (err) {
    await Promise.all([...locks.values()].map((l) => l.release()));
    throw err;
  }
  const answers = (subnet: string) => locks.has(subnet) && locks.get(subnet)!.lost === undefined;
  return {
    answers,
    onChange: (fn) => void listeners.push(fn),
    roles: () => ({ answering: [...locks.keys()].filter(answers), standby: [...locks.keys()].filter((s) => !answers(s)) }),
    release: async () => void (await Promise.all([...locks.values()].map((l) => l.release()))),
  };
}
