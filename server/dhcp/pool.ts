import type { Config } from '../config/schema.js';
import { intToIpv4, ipv4ToInt, parseCidr } from '../model/primitives.js';

type SubnetConfig = Config['dhcp']['subnets'][number];

/** One configured subnet: membership tests and a rotating cursor over its dynamic range. */
export class Pool {
  readonly cidr: string;
  readonly netmask: string;
  private readonly network: number;
  private readonly broadcast: number;
  private readonly start: number;
  /** Addresses in the dynamic range. */
  readonly size: number;
  private cursor = 0;

  constructor(readonly config: SubnetConfig) {
    const c = parseCidr(config.cidr);
    this.netmask = c.netmask;
    this.network = ipv4ToInt(c.network);
    this.broadcast = (this.network + 2 ** (32 - c.prefix) - 1) >>> 0;
    this.cidr = `${c.network}/${c.prefix}`;
    this.start = config.range ? ipv4ToInt(config.range[0]) : 0;
    this.size = config.range ? ipv4ToInt(config.range[1]) - this.start + 1 : 0;
    if (config.range && (this.size <= 0 || !this.contains(config.range[0]) || !this.contains(config.range[1])))
      throw new Error(`dhcp subnet ${config.cidr}: range ${config.range.join('-')} is not an ascending range inside the subnet`);
  }

  contains(ip: string): boolean {
    const n = ipv4ToInt(ip);
    return n > this.network && n < this.broadcast;
  }

  inRange(ip: string): boolean {
    const n = ipv4ToInt(ip) - this.start;
    return n >= 0 && n < this.size;
  }

  /**
   * First address from the cursor on that `usable` accepts. The cursor moves past what it
   * hands out, so steady-state allocation probes one address instead of rescanning the pool.
   */
  allocate(usable: (ip: string) => boolean): string | undefined {
    for (let i = 0; i < this.size; i++) {
      const k = (this.cursor + i) % this.size;
      const ip = intToIpv4(this.start + k);
      if (usable(ip)) {
        this.cursor = (k + 1) % this.size;
        return ip;
      }
    }
    return undefined;
  }
}

export function findPool(pools: Pool[], ip: string): Pool | undefined {
  return pools.find((p) => p.contains(ip));
}
