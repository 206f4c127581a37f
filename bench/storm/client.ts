/**
 * The storm's load generator: N simulated machines power on at even intervals within SPREAD
 * seconds, each runs bootMachine, and one JSON line sums it up (per-machine results go to OUT as
 * JSON lines). Run in the client network namespace:
 *   node --import tsx bench/storm/client.ts '<json spec>'
 * The generator's own CPU and event-loop delay are in the summary: a generator that lags would
 * measure itself, not the servers.
 */
import { writeFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { RelayClient } from './dhcp-relay.js';
import { bootMachine, type MachineResult, type Phase } from './machine.js';
import { stormMac } from './macs.js';

interface Spec {
  n: number;
  spreadSeconds: number;
  /** the relay agent's address (giaddr, bound here) and the DHCP server it relays to */
  giaddr: string;
  dhcpServer: string;
  tftpPort: number;
  /** Machines are dealt round-robin to these (TFTP address, HTTP origin); empty: as DHCP says. */
  targets: { tftp?: string; http?: string }[];
  /** windowsize of machine i is windowsizes[i % length] (1 = lock-step). */
  windowsizes: number[];
  out: string;
}

const spec = JSON.parse(process.argv[2]) as Spec;
const relay = await RelayClient.open(spec.giaddr, spec.dhcpServer);
const lag = monitorEventLoopDelay({ resolution: 10 });
lag.enable();
const cpu0 = process.cpuUsage();
const t0 = performance.now();

const runs: Promise<MachineResult>[] = [];
for (let i = 0; i < spec.n; i++) {
  const target = spec.targets.length ? spec.targets[i % spec.targets.length] : {};
  const at = (i * spec.spreadSeconds * 1000) / spec.n;
  runs.push(
    new Promise<void>((r) => setTimeout(r, at)).then(() =>
      bootMachine({ mac: stormMac(i), tftp: target.tftp, http: target.http, tftpPort: spec.tftpPort, windowsize: spec.windowsizes[i % spec.windowsizes.length] }, relay),
    ),
  );
}
const results = await Promise.all(runs);
const wall = performance.now() - t0;
lag.disable();
relay.close();
const cpu = process.cpuUsage(cpu0);
writeFileSync(spec.out, results.map((r) => JSON.stringify(r)).join('\n') + '\n');

const quantile = (xs: number[], q: number) => {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)];
};
const ok = results.filter((r) => r.ok);
const errors = new Map<string, number>();
for (const r of results)
  if (!r.ok) {
    const kind = r.error!.replace(/\d+(\.\d+){3}/g, 'IP').replace(/mac=[0-9a-f:]+/g, 'mac=…');
    errors.set(kind, (errors.get(kind) ?? 0) + 1);
  }
const phases = Object.fromEntries(
  (['dhcp', 'tftp', 'script', 'assets', 'kickstart', 'callbacks'] as Phase[]).map((p) => [p, Math.round(quantile(ok.map((r) => r.phases[p] ?? 0), 0.5))]),
);
console.log(
  JSON.stringify({
    n: spec.n,
    ok: ok.length,
    errors: spec.n - ok.length,
    errorKinds: Object.fromEntries(errors),
    p50: Math.round(quantile(ok.map((r) => r.ms), 0.5)),
    p99: Math.round(quantile(ok.map((r) => r.ms), 0.99)),
    max: Math.round(Math.max(...ok.map((r) => r.ms))),
    wallS: +(wall / 1000).toFixed(1),
    phasesP50: phases,
    dhcpRetransmits: results.reduce((s, r) => s + r.dhcpRetransmits, 0),
    tftpRetries: results.reduce((s, r) => s + r.tftpRetries, 0),
    tftpWindows: [...new Set(results.map((r) => r.tftpWindow).filter((w) => w !== undefined))],
    // The tail is the lock-step machines' (RESULTS.md, session 9): completion and TFTP p99 per granted window.
    byWindow: Object.fromEntries(
      [...new Set(ok.map((r) => r.tftpWindow))].map((w) => {
        const of = ok.filter((r) => r.tftpWindow === w);
        return [w ?? '-', { n: of.length, p99: Math.round(quantile(of.map((r) => r.ms), 0.99)), tftpP99: Math.round(quantile(of.map((r) => r.phases.tftp ?? 0), 0.99)) }];
      }),
    ),
    client: { cpuS: +((cpu.user + cpu.system) / 1e6).toFixed(1), loopDelayP99Ms: +(lag.percentile(99) / 1e6).toFixed(1), loopDelayMaxMs: +(lag.max / 1e6).toFixed(1) },
  }),
);
