/**
 * Issue 16's failover, end to end: two kickstand instances share one PostgreSQL (started by the
 * test), each in a namespace of its own (two hosts) cabled into one switch bridge with the VM's
 * tap. `rack-a` (dhcp.standby false) answers the subnet's DHCP; `rack-b` (standby true) waits as
 * a hot standby. The boot address machines are given (http.publicUrl, dhcp.serverAddress) is a
 * floating address held by keepalived (VRRP, a track script on the local /healthz), as operators
 * run it: on rack-a first. A BIOS VM with the installed-system disk is reinstalled through
 * rack-b's API while an SSE stream on rack-b is open; when the stream shows `installing` (the
 * stand-in fetched its kickstart from rack-a and runs its %pre), rack-a's kickstand process is
 * killed with SIGKILL. rack-b takes the subnet's DHCP, keepalived moves the address to rack-b,
 * the installer's callbacks retry into rack-b, and the VM's next boots (local-boot script,
 * installed system, converge reboot) are rack-b's alone. The VM must end `ready` with every state
 * once and in order, rack-a's events before the kill and rack-b's after, one lease row per
 * address and one address for the VM's MAC, acknowledged by both instances.
 */
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { INSTALL_PATH } from '../../server/lifecycle/table.js';
import type { StoredEvent } from '../../server/model/events.js';
import { postgresForTest } from '../helpers/postgres.js';
import { guestImage } from './lib/guest-image.js';
import { installedSystemDisk } from './lib/installed-system.js';
import { startKeepalived } from './lib/keepalived.js';
import { startKickstand, type Kickstand } from './lib/kickstand.js';
import { Netns, scratchDir } from './lib/netns.js';
import { openNsStream } from './lib/ns-sse.js';
import { hostOnSwitch, namespacePids } from './lib/rack-hosts.js';
import { Vm } from './lib/vm.js';

if (process.getuid?.() !== 0) t.plan(0, 'needs root (network namespaces, taps)');
else if (spawnSync('keepalived', ['--version']).error) t.plan(0, 'needs keepalived (test/peers.sh installs Debian’s)');
t.setTimeout(600_000);

const VIP = '10.77.0.1';
const SUBNET = '10.77.0.0/24';
const NAME = 'fo-bios';
const MAC = '52:54:00:77:16:01';
const HEALTH = 'http://127.0.0.1:8080/healthz';
const READY_WITHIN_MS = 420_000;

interface Health {
  status: string;
  instance?: string;
  dhcp?: { answering?: string[]; standby?: string[] };
}

async function health(ks: Kickstand): Promise<Health | undefined> {
  const r = await ks.api('GET', '/healthz').catch(() => undefined);
  return r?.json as Health | undefined;
}

const stateEvents = (events: StoredEvent[]) => events.filter((e) => e.machine === NAME && e.kind === 'state' && e.data?.to);

t.test('rack-a is killed mid-install; rack-b takes DHCP and the boot address, and the VM ends ready', async (t) => {
  const wallStart = performance.now();
  const pg = await postgresForTest(t);
  if (!pg) return;
  const database = new URL(await pg.createDatabase(t)).pathname.slice(1);
  // The instances run in namespaces of their own, whose 127.0.0.1 is not the server's: the Unix socket is shared.
  const storeUrl = `postgres://postgres@localhost:${pg.port}/${database}?host=${encodeURIComponent(pg.socketDir)}`;

  const work = await scratchDir('failover');
  t.teardown(() => rm(work, { recursive: true, force: true }));
  const guest = await guestImage({ workDir: join(work, 'guest') });
  const disk = await installedSystemDisk({ workDir: join(work, 'installed') });

  // The rack: a switch with the VM's port (and the segment's router advertisements), two hosts.
  const sw = await Netns.create({ taps: 1, serverCidr: '10.77.0.254/24', routerAdvertisements: true });
  t.teardown(() => sw.destroy());
  const hostA = await hostOnSwitch(sw, '10.77.0.2/24');
  t.teardown(() => hostA.destroy());
  const hostB = await hostOnSwitch(sw, '10.77.0.3/24');
  t.teardown(() => hostB.destroy());

  const a = await startKickstand(hostA, {
    guest,
    machines: [{ name: NAME, mac: MAC, firmware: 'bios', installed: true }],
    register: 'api',
    address: VIP,
    config: { instance: 'rack-a', store: { url: storeUrl } },
    dhcp: { standby: false },
  });
  const kaA = await startKeepalived(hostA, { vip: VIP, prefixLength: 24, priority: 150, virtualRouterId: 77, healthUrl: HEALTH, routerId: 'rack-a' });
  t.teardown(() => kaA.stop());
  t.ok(await kaA.waitHolds(15_000), `rack-a's keepalived holds the boot address ${VIP}`);

  const b = await startKickstand(hostB, {
    guest,
    machines: [],
    register: 'api',
    address: VIP,
    config: { instance: 'rack-b', store: { url: storeUrl } },
    dhcp: { standby: true },
  });
  const kaB = await startKeepalived(hostB, { vip: VIP, prefixLength: 24, priority: 100, virtualRouterId: 77, healthUrl: HEALTH, routerId: 'rack-b' });
  t.teardown(() => kaB.stop());
  for (let i = 0; i < 150 && !/Entering BACKUP STATE/.test(kaB.log()); i++) await new Promise((r) => setTimeout(r, 100));
  t.match(kaB.log(), /Entering BACKUP STATE/, 'rack-b’s keepalived is the backup');
  t.notOk(await kaB.holds(), 'the boot address is not on rack-b');

  const hA = await health(a);
  const hB = await health(b);
  t.comment(`healthz before: rack-a ${JSON.stringify(hA)}; rack-b ${JSON.stringify(hB)}`);
  t.equal(hA?.instance, 'rack-a');
  t.equal(hB?.instance, 'rack-b');
  t.same(hA?.dhcp?.answering, [SUBNET], 'rack-a answers the subnet');
  t.same(hB?.dhcp?.standby, [SUBNET], 'rack-b stands by for it');
  t.same(hB?.dhcp?.answering ?? [], [], 'and does not answer it');

  // The story as an operator watching rack-b sees it, from before the reinstall to the end.
  const stream = await openNsStream(hostB, '127.0.0.1', 8080, { token: b.token });
  t.teardown(() => stream.close());

  const vmDir = join(work, NAME);
  await mkdir(vmDir);
  const { qemuArgs } = await disk.copyFor(vmDir);
  const r = await b.api('POST', `/api/v1/machines/${NAME}/reinstall`, { token: b.token });
  t.equal(r.status, 202, `reinstall accepted by rack-b: ${r.text}`);
  // bmc: manual — the test is the operator who switches the machine on.
  const vm = await Vm.start({ ns: sw, tap: sw.taps[0]!, mac: MAC, firmware: 'bios', workDir: vmDir, memoryMb: 384, extraArgs: qemuArgs });
  t.teardown(() => vm.stop());
  const poweredOn = performance.now();

  const installing = await stream.until((es) => stateEvents(es).some((e) => e.data!.to === 'installing'), 300_000);
  if (!installing) t.comment(`console:\n${await vm.serialTail(30)}`);
  t.ok(installing, 'the stream on rack-b shows installing');
  if (!installing) return;

  // kill -9 of rack-a's kickstand process (not its namespace: its network, keepalived included, stays).
  const pid = a.process.pid!;
  const killedAt = Date.now();
  const exited = once(a.process, 'exit');
  process.kill(pid, 'SIGKILL');
  const [code, signal] = await exited;
  t.equal(signal, 'SIGKILL', `rack-a (pid ${pid}) died of SIGKILL (${code ?? signal})`);
  t.comment(`killed rack-a ${((performance.now() - poweredOn) / 1000).toFixed(1)} s after power-on; states so far: ${stateEvents(stream.events).map((e) => `${e.data!.to}@${e.instance}`).join(' ')}`);

  // rack-b takes the subnet (healthz) and the boot address (keepalived).
  let dhcpTakenMs: number | undefined;
  let vipMovedMs: number | undefined;
  for (const until = Date.now() + 30_000; Date.now() < until && (dhcpTakenMs === undefined || vipMovedMs === undefined); ) {
    if (dhcpTakenMs === undefined && (await health(b))?.dhcp?.answering?.includes(SUBNET)) dhcpTakenMs = Date.now() - killedAt;
    if (vipMovedMs === undefined && (await kaB.holds())) vipMovedMs = Date.now() - killedAt;
    await new Promise((r) => setTimeout(r, 50));
  }
  t.ok(dhcpTakenMs !== undefined, `rack-b answers ${SUBNET} ${dhcpTakenMs} ms after the kill`);
  t.ok(vipMovedMs !== undefined, `the boot address is on rack-b ${vipMovedMs} ms after the kill`);
  t.notOk(await kaA.holds(), 'and no longer on rack-a');
  const hAfter = await health(b);
  t.comment(`healthz on rack-b after the kill: ${JSON.stringify(hAfter)}`);

  // Nothing of rack-a is left: no kickstand process in its namespace, no database session.
  t.notOk(existsSync(`/proc/${pid}`), 'rack-a’s process is gone');
  const left: string[] = [];
  for (const p of await namespacePids(hostA)) {
    const cmd = await readFile(`/proc/${p}/cmdline`, 'utf8').catch(() => '');
    if (/server\/cli\/main\.ts|bin\/kickstand/.test(cmd)) left.push(`${p}: ${cmd.replace(/\0/g, ' ')}`);
  }
  t.same(left, [], 'no kickstand process left in rack-a’s namespace');
  let sessions = '';
  for (let i = 0; i < 50; i++) {
    sessions = pg.psql(`SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE '%rack-a%'`, database).trim();
    if (sessions === '0') break;
    await new Promise((r) => setTimeout(r, 100));
  }
  t.equal(sessions, '0', 'no database session of rack-a left');

  const ended = await stream.until((es) => stateEvents(es).some((e) => e.data!.to === 'ready' || e.data!.to === 'failed'), READY_WITHIN_MS);
  const seconds = (performance.now() - poweredOn) / 1000;
  t.ok(ended, `the machine reached an end within ${READY_WITHIN_MS / 1000} s (${seconds.toFixed(1)} s after power-on)`);
  // The last events (converge's closing lines) may trail the state by a moment.
  await new Promise((r) => setTimeout(r, 1000));
  t.notOk(stream.ended(), 'the stream on rack-b stayed open throughout');

  const events = stream.events;
  const states = stateEvents(events);
  const last = states.at(-1);
  t.equal(last?.data?.to, 'ready', `ended ready (${last?.message})`);
  if (last?.data?.to !== 'ready') t.comment(`console:\n${await vm.serialTail(40)}`);
  t.same(
    states.map((e) => e.data!.to),
    INSTALL_PATH,
    `every state once, in order: ${states.map((e) => `${e.data!.to}@${e.instance}`).join(' → ')}`,
  );
  t.equal(states[0]?.data?.from, 'registered', 'the first transition leaves registered');
  // The database agrees: the events table holds each state once, and the stream sent every event in it.
  const stored = pg
    .psql(`SELECT id, instance, kind, data FROM events ORDER BY id`, database)
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [id, instance, kind, ...data] = l.split('|');
      return { id: Number(id), instance, kind, data: data.join('|') ? (JSON.parse(data.join('|')) as Record<string, unknown>) : undefined };
    });
  t.same(
    stored.filter((e) => e.kind === 'state' && e.data?.to).map((e) => `${e.data!.to}@${e.instance}`),
    states.map((e) => `${e.data!.to}@${e.instance}`),
    'the events table holds the same states, each once',
  );
  const streamed = new Set(events.map((e) => e.id));
  const missed = stored.filter((e) => e.id > (events[0]?.id ?? 0) && e.id <= (events.at(-1)?.id ?? 0) && !streamed.has(e.id));
  t.same(missed.map((e) => `${e.id} ${e.kind}@${e.instance}`), [], `the stream on rack-b sent every stored event from its first to its last (${stored.length} stored, ${events.length} streamed)`);
  const ids = events.map((e) => e.id);
  t.ok(ids.every((id, i) => i === 0 || id > ids[i - 1]!), 'the stream sent events in id order, none twice');

  // Who wrote what: rack-a up to its death, rack-b after.
  const byA = events.filter((e) => e.instance === 'rack-a');
  const byB = events.filter((e) => e.instance === 'rack-b');
  t.ok(states.some((e) => e.instance === 'rack-a'), `rack-a wrote states before the kill: ${states.filter((e) => e.instance === 'rack-a').map((e) => e.data!.to).join(', ')}`);
  t.ok(states.some((e) => e.instance === 'rack-b' && e.at > killedAt), `rack-b wrote states after it: ${states.filter((e) => e.instance === 'rack-b' && e.at > killedAt).map((e) => e.data!.to).join(', ')}`);
  t.ok(byA.every((e) => e.at <= killedAt), `no event of rack-a is dated after the kill (${byA.length} events)`);
  t.ok(byB.length > 0, `${byB.length} events by rack-b`);
  t.same([...new Set(events.map((e) => e.instance))].sort(), ['rack-a', 'rack-b'], 'every event names its writer');

  // The stream was live: each state arrived within seconds of being written, not in a backlog at the end.
  const lag = states.map((e) => events.indexOf(e)).map((i) => stream.arrivedAt[i]! - events[i]!.at);
  t.ok(lag.every((ms) => ms < 10_000), `each state reached rack-b’s stream within 10 s of being written (${lag.join(', ')} ms)`);

  // DHCP: the VM's address was acknowledged by both instances, the same one; one lease row per address.
  const acks = events.filter((e) => e.kind === 'dhcp' && e.mac === MAC && e.data?.reply === 'ACK');
  const ackedBy = (inst: string) => acks.filter((e) => e.instance === inst).map((e) => e.ip);
  t.comment(`DHCP ACKs: ${acks.map((e) => `${e.ip}@${e.instance}`).join(' ')}`);
  t.ok(ackedBy('rack-a').length > 0, `rack-a acknowledged the VM’s lease before the kill (${ackedBy('rack-a').join(', ')})`);
  t.ok(acks.some((e) => e.instance === 'rack-b' && e.at > killedAt), `rack-b acknowledged it after (${ackedBy('rack-b').join(', ')})`);
  const early = events.filter((e) => e.kind === 'dhcp' && e.mac === MAC && e.instance === 'rack-b' && e.at <= killedAt);
  t.same(early.map((e) => e.message), [], 'the standby answered no DHCP while rack-a held the subnet');
  t.equal(new Set(acks.map((e) => e.ip)).size, 1, `one address for the VM from both: ${[...new Set(acks.map((e) => e.ip))].join(', ')}`);
  const rows = pg
    .psql('SELECT mac, ip, subnet, state FROM leases ORDER BY ip', database)
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split('|'));
  t.comment(`leases: ${rows.map((r) => r.join(' ')).join('; ')}`);
  t.same(rows.filter((r) => r[0] === MAC).map((r) => r[1]), [acks[0]?.ip], 'the VM’s MAC has one lease, at that address');
  t.equal(new Set(rows.map((r) => r[1])).size, rows.length, 'one lease row per address');
  const naks = events.filter((e) => e.kind === 'dhcp' && e.mac === MAC && e.data?.reply === 'NAK');
  t.same(naks.map((e) => e.message), [], 'no NAK for the VM');

  // rack-b's own word on the takeover, in the stream.
  const takeover = events.find((e) => e.kind === 'dhcp' && e.instance === 'rack-b' && e.data?.subnet === SUBNET && e.data?.answering === true);
  t.ok(takeover && takeover.at > killedAt, `rack-b streamed "${takeover?.message}" ${takeover ? takeover.at - killedAt : '?'} ms after the kill`);

  // The installer's callbacks after the kill went to rack-b through the moved address.
  const callbacks = events.filter((e) => e.kind === 'callback' && e.machine === NAME);
  for (const cb of ['hostkeys', 'built'])
    t.ok(callbacks.some((e) => e.data?.event === cb && e.instance === 'rack-b'), `the ${cb} callback reached rack-b`);
  const story = events
    .filter((e) => e.machine === NAME || e.mac === MAC)
    .map((e) => `${((e.at - killedAt) / 1000).toFixed(1).padStart(6)} s ${e.instance} ${e.kind}: ${e.message.slice(0, 100)}`);
  t.comment(`rack-b's stream, seconds from the kill:\n${story.join('\n')}`);
  const standin = (await vm.serial()).split('\n').filter((l) => /KS-STANDIN|KS-INSTALLED/.test(l) && /callback|FAILED|fail|retry|section|end:|lease|sshd up/i.test(l));
  t.comment(`the VM's console (installer and installed system):\n${standin.join('\n')}`);

  // What rack-b's API tells afterwards agrees with what it streamed.
  const p = await b.api('GET', `/api/v1/machines/${NAME}/progress?events=2000`, { token: b.token });
  t.equal((p.json as { state: string }).state, 'ready', 'progress on rack-b: ready');

  const serial = await vm.serial();
  t.equal((serial.match(/KS-INSTALLED \[[\d.]+\] sshd up .*/g) ?? []).length, 2, 'the installed system booted from its disk twice (after the install, after the converge reboot)');

  const wall = (performance.now() - wallStart) / 1000;
  t.comment(`failover: DHCP on rack-b ${dhcpTakenMs} ms (healthz; its event ${takeover ? takeover.at - killedAt : '?'} ms), boot address ${vipMovedMs} ms after kill -9; power-on to ready ${seconds.toFixed(1)} s; whole test ${wall.toFixed(1)} s`);
});
