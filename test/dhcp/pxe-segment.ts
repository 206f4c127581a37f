import type { ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sh, type Lab } from './netns.js';

/**
 * The peers around kickstand's DHCP on a PXE segment, for tests that boot QEMU's own iPXE (the NIC
 * ROM, BIOS, TCG): the site's dnsmasq, a python http.server standing in for kickstand's HTTP side
 * (it logs every GET), and the VM, booted until iPXE asks for its script.
 */
export class PxeSegment {
  private httpLog = '';

  /** `work`: a scratch directory for dnsmasq's files and what http.server serves. */
  constructor(
    private readonly lab: Lab,
    private readonly work: string,
  ) {}

  /**
   * dnsmasq in `ns` on `iface` (which needs an IPv6 address): router advertisements, without
   * which iPXE waits ~10 s for IPv6 autoconfiguration; with `range`, also the site's DHCP server
   * that hands out addresses and nothing else.
   */
  site(ns: string, iface: string, range?: [string, string]): ChildProcess {
    const conf = join(this.work, range ? 'site.conf' : 'ra.conf');
    const dhcp = range ? `dhcp-range=${range[0]},${range[1]},255.255.255.0,1h\ndhcp-leasefile=${this.siteLeases}\nno-ping\n` : '';
    writeFileSync(conf, `port=0\ninterface=${iface}\nbind-interfaces\n${dhcp}enable-ra\ndhcp-range=::,constructor:${iface},ra-only\nra-param=${iface},10,0\n`);
    return this.lab.background(ns, ['dnsmasq', '-k', `--conf-file=${conf}`]);
  }

  /** The address of the site server's latest lease. */
  siteLease(): string | undefined {
    return readFileSync(this.siteLeases, 'utf8').split(/\s+/)[2];
  }

  /** http.server on address:8080 in `ns`. */
  http(ns: string, address: string): void {
    const server = this.lab.background(ns, ['python3', '-u', '-m', 'http.server', '--bind', address, '--directory', this.work, '8080']);
    server.stderr!.on('data', (d) => (this.httpLog += d));
  }

  /** How many times iPXE asked http.server for the script of `mac`. */
  scriptRequests(mac: string): number {
    // iPXE percent-encodes the colons of the query when it rebuilds the URI.
    return this.httpLog.split(`GET /boot/ipxe?mac=${encodeURIComponent(mac)}`).length - 1;
  }

  /** A tap device on the bridge br0 of `ns`, for the VM. */
  tap(ns: string): void {
    sh(`ip -n ${ns} tuntap add dev tap0 mode tap && ip -n ${ns} link set tap0 master br0 && ip -n ${ns} link set tap0 up`);
  }

  /** Boots a VM with this MAC on the tap of `ns` until iPXE asks for its script (true) or the time is up (false). */
  async bootUntilScript(ns: string, mac: string, timeoutMs: number): Promise<boolean> {
    const before = this.scriptRequests(mac);
    const qemu = this.lab.background(ns, [
      'qemu-system-x86_64', '-machine', 'q35', '-accel', 'tcg', '-m', '256', '-nographic', '-vga', 'none', '-nodefaults',
      '-serial', 'none', '-monitor', 'none', '-netdev', 'tap,id=n0,ifname=tap0,script=no,downscript=no',
      '-device', `virtio-net-pci,netdev=n0,mac=${mac},bootindex=1`, '-boot', 'n',
    ]);
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && this.scriptRequests(mac) === before) await new Promise((r) => setTimeout(r, 200));
    qemu.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 300));
    return this.scriptRequests(mac) > before;
  }

  private get siteLeases(): string {
    return join(this.work, 'site.leases');
  }
}
