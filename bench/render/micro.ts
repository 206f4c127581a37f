/**
 * Micro-benchmark of the pure renderers (no HTTP): how many µs one render costs, so the
 * HTTP benchmark's budget (15,000 kickstarts/s on 2 cores, with token check and store read)
 * is known to leave room. Run: npx tsx bench/render/micro.ts [iterations]
 */
import { Config } from '../../server/config/schema.js';
import { loadInventory } from '../../server/inventory/load.js';
import { RenderEnv } from '../../server/render/env.js';
import { renderIgnition } from '../../server/render/ignition.js';
import { renderIpxe } from '../../server/render/ipxe.js';
import { renderKickstart } from '../../server/render/kickstart.js';
import type { RenderContext } from '../../server/render/context.js';

const iterations = Number(process.argv[2] ?? 20000);
const inv = await loadInventory(new URL('../../machines', import.meta.url).pathname);
const env = new RenderEnv();
const config = Config.parse({});
const ctx = (name: string): RenderContext => {
  const machine = inv.machines.find((m) => m.name === name)!;
  const profile = inv.profiles.find((p) => p.name === machine.profile)!;
  return { machine, profile, config, token: 'tok_Zq3v-8Kx2mW9pR4s', urls: { base: 'http://10.0.0.1:8080' }, convergerPublicKey: 'ssh-ed25519 AAAAC3Nz kickstand' };
};

/**
 * The machine is shared (load often above the core count), so wall-clock samples mostly measure
 * waiting for a core: the CPU time of the whole batch (process.cpuUsage) is the cost figure,
 * wall-clock p50/p99 are printed for reference.
 */
function bench(name: string, fn: (i: number) => string) {
  for (let i = 0; i < 2000; i++) fn(i); // warm-up: compile templates, JIT
  const samples = new Float64Array(iterations);
  let bytes = 0;
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < iterations; i++) {
    const s = process.hrtime.bigint();
    bytes = fn(i).length;
    samples[i] = Number(process.hrtime.bigint() - s) / 1000;
  }
  const cpu = process.cpuUsage(cpu0);
  const cpuUs = (cpu.user + cpu.system) / iterations;
  samples.sort();
  const q = (p: number) => samples[Math.min(iterations - 1, Math.floor(p * iterations))].toFixed(1);
  console.log(
    `${name.padEnd(38)} cpu ${cpuUs.toFixed(1).padStart(6)} µs/render = ${Math.round(1e6 / cpuUs).toString().padStart(7)}/s per core   wall p50 ${q(0.5).padStart(6)} p99 ${q(0.99).padStart(7)} µs  (${bytes} bytes)`,
  );
}

const web = ctx('web-01');
const util = ctx('util-01');
const edge = ctx('edge-01');
// A fresh token per render, as the HTTP route has: nothing may be cached across tokens.
bench('kickstart web-01 (RAID1, bond, VLAN)', (i) => renderKickstart({ ...web, token: `t${i}` }, env));
bench('kickstart util-01 (BIOS, one disk)', (i) => renderKickstart({ ...util, token: `t${i}` }, env));
bench('ignition edge-01', (i) => renderIgnition({ ...edge, token: `t${i}` }, env));
bench('ipxe install web-01 (lint + script)', (i) => renderIpxe({ kind: 'install', ctx: { ...web, token: `t${i}` } }, env));
// what GET /boot/ipxe does for an install: render the config (the check), then the script
bench('config + ipxe install web-01', (i) => {
  const c = { ...web, token: `t${i}` };
  renderKickstart(c, env);
  return renderIpxe({ kind: 'install', ctx: c }, env);
});
bench('ipxe local', () => renderIpxe({ kind: 'local', name: 'web-01', firmware: 'uefi', urls: web.urls }, env));
// The memo bypassed (a token URL encoding would change): the full pipeline, lint included, every time.
bench('kickstart web-01, no memo (full render)', (i) => renderKickstart({ ...web, token: `t+${i}` }, env));
bench('ignition edge-01, no memo (full render)', (i) => renderIgnition({ ...edge, token: `t+${i}` }, env));
