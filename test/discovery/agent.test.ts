import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { Inventory } from '../../server/model/hardware.js';
import { Netns, openTempDir, runAgent, sh, toolbox, which } from './agent-helpers.js';

/**
 * templates/discovery/agent.sh, the inventory agent the discovery and install %pre run, with
 * real peers: this machine's dmidecode, lsblk, /sys and /proc under bash and under busybox sh
 * (busybox's awk and applets, as in the e2e stand-in); lldpd as the switch in a network namespace,
 * heard through lldpad + lldptool and through lldpd + lldpctl; a DMI tree with hostile strings;
 * and a kickstand stand-in over HTTP for the report and the discovery poll.
 */

const scratch = openTempDir('ks-agent-');
t.teardown(scratch.cleanup);
const lab = new Netns();
t.teardown(() => lab.cleanup());

const SKIPPED_DISKS = /^(loop|ram|zram|sr|fd)/;
const parse = (stdout: string) => Inventory.parse(JSON.parse(stdout));

t.test('--print on this machine, under bash and busybox sh: the report matches independent readings', async (t) => {
  // lldpctl stays in the PATH (no lldpd runs here: the agent must not wait for LLDP); lldptool
  // and lldpad do not (the agent would start lldpad on the host's network).
  const lldpdRuns = spawnSync('lldpctl', [], { stdio: 'ignore' }).status === 0;
  const hw = ['dmidecode', 'lsblk', 'ipmitool', ...(lldpdRuns ? [] : ['lldpctl'])];
  const runs = [];
  for (const shell of ['bash', 'busybox'] as const) {
    const tools = toolbox(shell === 'bash' ? 'host' : 'busybox', hw);
    t.teardown(tools.cleanup);
    const r = await runAgent({ shell, path: tools.dir, args: ['--print'] });
    t.equal(r.code, 0, `${shell}: exit 0 (${r.stderr.trim()})`);
    t.ok(r.ms < 10_000, `${shell}: no LLDP tool, no LLDP wait (${r.ms} ms)`);
    runs.push(parse(r.stdout));
  }
  const [inv, bb] = runs;
  t.same(bb, inv, 'busybox sh and awk report what bash reports');

  const disks = sh('lsblk -b -d -n -o NAME,SIZE,TYPE')
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter(([name, , type]) => type === 'disk' && !SKIPPED_DISKS.test(name))
    .map(([name, size]) => ({ name, sizeBytes: Number(size) }));
  t.ok(disks.length > 0, 'this machine has a disk to compare');
  t.same(inv.disks?.map((d) => ({ name: d.name, sizeBytes: d.sizeBytes })), disks, 'disks: names and sizes as lsblk reads them');

  const nproc = Number(sh('nproc --all').trim());
  const processors = readFileSync('/proc/cpuinfo', 'utf8').split('\n').filter((l) => /^processor\s*:/.test(l)).length;
  t.equal(inv.cpu?.count, processors, 'cpu count: processors in /proc/cpuinfo');
  t.equal(inv.cpu?.count, nproc, 'cpu count: nproc --all');
  t.equal(inv.cpu?.architecture, sh('uname -m').trim());
  const memKiB = Number(/^MemTotal:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1]);
  t.equal(inv.memory?.totalMiB, Math.floor(memKiB / 1024), 'memory: MemTotal in MiB');
  t.equal(inv.firmware?.mode, existsSync('/sys/firmware/efi') ? 'uefi' : 'bios', 'firmware mode');

  const physical = readdirSync('/sys/class/net')
    .filter((n) => n !== 'lo' && existsSync(`/sys/class/net/${n}/device`))
    .sort();
  t.same(inv.interfaces?.map((i) => i.name) ?? [], physical, 'interfaces: the ones with a device');
  for (const i of inv.interfaces ?? []) t.equal(i.mac, readFileSync(`/sys/class/net/${i.name}/address`, 'utf8').trim(), `${i.name}: mac`);

  const product = spawnSync('dmidecode', ['-s', 'system-product-name'], { encoding: 'utf8' });
  const dmiProduct = product.status === 0 ? product.stdout.trim() : existsSync('/sys/class/dmi/id/product_name') ? readFileSync('/sys/class/dmi/id/product_name', 'utf8').trim() : '';
  if (dmiProduct) t.equal(inv.system?.product, dmiProduct, 'system product as dmidecode reads it');
  else t.equal(inv.system?.product, undefined, 'no DMI here: no product');
});

t.test('the /sys fallbacks, with hostile DMI strings: the JSON parses and the text survives without control characters', async (t) => {
  const root = join(scratch.dir, 'fake');
  const sys = join(root, 'sys');
  const put = (path: string, text: string | Buffer) => {
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, text);
  };
  const link = (path: string, target: string) => {
    mkdirSync(join(path, '..'), { recursive: true });
    symlinkSync(target, path);
  };
  const dmi = {
    sys_vendor: 'Ac"me \\ Corp\x01 \x1b[31mred\x7f',
    product_name: '  Pro"Liant\\\\ DL360\tGen10 \r',
    product_serial: 'To Be Filled By O.E.M.',
    product_uuid: '4c4c4544-0042-3510-8052-b4c04f565a32',
    bios_vendor: 'Dell Inc. "quoted" \\',
    bios_version: 'v'.repeat(300),
  };
  for (const [f, v] of Object.entries(dmi)) put(join(sys, 'class/dmi/id', f), v + '\n');
  mkdirSync(join(sys, 'firmware/efi/efivars'), { recursive: true });
  // efivarfs: four attribute bytes (NV, BS, RT), then the value: Secure Boot on
  writeFileSync(join(sys, 'firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c'), Buffer.from([6, 0, 0, 0, 1]));
  // disks: sdz, and loop0/dm-0 that are not disks
  put(join(sys, 'block/sdz/size'), '3907029168\n');
  put(join(sys, 'block/sdz/queue/rotational'), '1\n');
  put(join(sys, 'block/sdz/device/model'), 'ST2000NM "0055"\n');
  put(join(sys, 'block/sdz/device/serial'), 'Z1X2\\3\n');
  put(join(sys, 'block/sdz/device/wwid'), 'naa.5000c50079a1b2c3\n');
  for (const d of ['loop0', 'dm-0']) put(join(sys, 'block', d, 'size'), '8\n');
  const dev = join(root, 'dev');
  link(join(dev, 'disk/by-id/ata-ST2000NM_Z1X2'), '../../sdz');
  link(join(dev, 'disk/by-id/ata-ST2000NM_Z1X2-part1'), '../../sdz1');
  link(join(dev, 'disk/by-id/wwn-0x5000c50079a1b2c3'), '../../sdz');
  link(join(dev, 'disk/by-path/pci-0000:00:1f.2-ata-1'), '../../sdz');
  link(join(dev, 'disk/by-path/pci-0000:00:1f.2-ata-1-part1'), '../../sdz1');
  // NICs laid out as sysfs lays them out: class/net/X -> devices/…/net/X, X/device -> the PCI function
  const nic = (name: string, fn: string | null, files: Record<string, string>) => {
    const at = fn ? `devices/pci0000:00/${fn}/net/${name}` : `devices/virtual/net/${name}`;
    for (const [f, v] of Object.entries(files)) put(join(sys, at, f), v + '\n');
    if (fn) {
      symlinkSync(`../../../${fn}`, join(sys, at, 'device'));
      link(join(sys, `devices/pci0000:00/${fn}/driver`), '../../../bus/pci/drivers/ixgbe');
    }
    link(join(sys, 'class/net', name), `../../${at}`);
  };
  mkdirSync(join(sys, 'bus/pci/drivers/ixgbe'), { recursive: true });
  nic('eno1', '0000:3b:00.0', { address: 'AA:BB:CC:00:11:22', speed: '10000', carrier: '1' });
  nic('eno2', '0000:3b:00.1', { address: 'aa:bb:cc:00:11:23', speed: '-1', carrier: '0' });
  nic('ib0', '0000:5e:00.0', { address: '80:00:02:08:fe:80:00:00:00:00:00:00:0c:42:a1:03:00:6b:8f:1c', speed: '100000', carrier: '1' });
  nic('br0', null, { address: 'aa:bb:cc:00:11:24', carrier: '1' });
  nic('lo', null, { address: '00:00:00:00:00:00', carrier: '1' });
  const proc = join(root, 'proc');
  put(join(proc, 'cpuinfo'), 'processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Gold "6230"\nprocessor\t: 1\nmodel name\t: Intel(R) Xeon(R) Gold "6230"\n');
  put(join(proc, 'meminfo'), 'MemTotal:       197846468 kB\nMemFree:        1 kB\n');
  put(join(proc, 'cmdline'), 'initrd=initrd.img inst.ks=http://k/ks BOOTIF=01-AA-BB-CC-00-11-22 quiet\n');

  const env = { KICKSTAND_AGENT_SYSFS: sys, KICKSTAND_AGENT_PROC: proc, KICKSTAND_AGENT_DEV: dev };
  const clean = (s: string) => s.replace(/[\x00-\x1f\x7f]/g, '').trim();
  const outputs: string[] = [];
  for (const shell of ['bash', 'busybox'] as const) {
    // no dmidecode (this sysfs is the DMI source), no lsblk (/sys/block is the disk source)
    const tools = toolbox(shell === 'bash' ? 'host' : 'busybox', []);
    t.teardown(tools.cleanup);
    const r = await runAgent({ shell, path: tools.dir, args: ['--print', '--lldp-wait', '5'], env });
    t.equal(r.code, 0, `${shell}: exit 0 (${r.stderr.trim()})`);
    outputs.push(r.stdout);
  }
  t.equal(outputs[1], outputs[0], 'busybox and bash print the same bytes');
  const inv = parse(outputs[0]);
  t.same(inv.system, { manufacturer: clean(dmi.sys_vendor), product: clean(dmi.product_name), uuid: dmi.product_uuid }, 'quotes and backslashes kept, control characters gone, placeholder serial left out');
  t.equal(inv.system?.manufacturer, 'Ac"me \\ Corp [31mred');
  t.same(inv.firmware, { mode: 'uefi', vendor: 'Dell Inc. "quoted" \\', version: 'v'.repeat(256), secureBoot: true }, 'firmware: uefi, a long version cut to 256, Secure Boot from its EFI variable');
  t.same(inv.cpu, { model: 'Intel(R) Xeon(R) Gold "6230"', count: 2, architecture: sh('uname -m').trim() });
  t.same(inv.memory, { totalMiB: 193209 });
  t.same(inv.disks, [
    {
      name: 'sdz',
      sizeBytes: 3907029168 * 512,
      rotational: true,
      model: 'ST2000NM "0055"',
      serial: 'Z1X2\\3',
      wwn: 'naa.5000c50079a1b2c3',
      byId: [join(dev, 'disk/by-id/ata-ST2000NM_Z1X2'), join(dev, 'disk/by-id/wwn-0x5000c50079a1b2c3')],
      byPath: join(dev, 'disk/by-path/pci-0000:00:1f.2-ata-1'),
    },
  ], 'disks from /sys/block: sizes in bytes, by-id links to the disk and not its partitions');
  t.same(inv.interfaces, [
    { name: 'eno1', mac: 'aa:bb:cc:00:11:22', speedMbps: 10000, carrier: true, pciAddress: '0000:3b:00.0', driver: 'ixgbe' },
    { name: 'eno2', mac: 'aa:bb:cc:00:11:23', carrier: false, pciAddress: '0000:3b:00.1', driver: 'ixgbe' },
  ], 'physical NICs with an Ethernet MAC: no bridge, no lo, no InfiniBand address');
  t.equal(inv.bootMac, 'aa:bb:cc:00:11:22', 'boot MAC from BOOTIF=01-…');
  t.equal(JSON.parse(outputs[0]).bmc, undefined, 'no ipmitool: no bmc');

  const tools = toolbox('busybox', []);
  t.teardown(tools.cleanup);
  const r = await runAgent({ shell: 'busybox', path: tools.dir, args: ['--print', '--boot-mac', '52-54-00-AB-CD-EF', '--all-interfaces', '--lldp-wait=0'], env });
  const all = parse(r.stdout);
  t.equal(all.bootMac, '52:54:00:ab:cd:ef', '--boot-mac wins over BOOTIF');
  t.same(all.interfaces?.map((i) => i.name), ['br0', 'eno1', 'eno2'], '--all-interfaces: virtual NICs too, never lo');
});

/** The switch: lldpd on `port` in namespace `sw`, hostname sw-a3, a port description, port IDs by name. */
function lldpSwitch(sw: string, port: string, dir: string) {
  const conf = join(dir, 'lldpd.conf');
  writeFileSync(
    conf,
    ['configure system hostname sw-a3', 'configure lldp tx-interval 1', 'configure lldp portidsubtype ifname', `configure ports ${port} lldp portdescription "uplink to a3"`, ''].join('\n'),
    { mode: 0o644 },
  );
  const ctl = join(dir, 'sw.ctl');
  sh(`ip netns exec ${sw} lldpd -u ${ctl} -p ${join(dir, 'sw.pid')} -O ${conf} -I ${port} -k -i >${join(dir, 'sw.log')} 2>&1 &`);
  return ctl;
}

t.test('LLDP through lldpad + lldptool (busybox sh): the switch is named, a NIC without link is given up at half the wait', async (t) => {
  const dir = join(scratch.dir, 'lldpad');
  mkdirSync(dir, { mode: 0o755 });
  const sw = lab.add('s1');
  const box = lab.add('b1');
  lab.veth(sw, 'Eth1-12', box, 'eth0', { a: true, b: false });
  lab.veth(sw, 'Eth1-13', box, 'eth1', { a: false, b: false });
  lldpSwitch(sw, 'Eth1-12', dir);
  const tools = toolbox('busybox', ['lldptool', 'lldpad']);
  t.teardown(tools.cleanup);
  const r = await runAgent({
    shell: 'busybox',
    path: tools.dir,
    netns: box,
    args: ['--print', '--all-interfaces', '--lldp-wait', '20'],
    env: { KICKSTAND_AGENT_LLDPAD_CONF: join(dir, 'lldpad', 'lldpad.conf') },
  });
  t.equal(r.code, 0, r.stderr);
  const inv = parse(r.stdout);
  const eth0 = inv.interfaces?.find((i) => i.name === 'eth0');
  const eth1 = inv.interfaces?.find((i) => i.name === 'eth1');
  t.match(r.stderr, /kickstand-agent: starting lldpad/, 'the agent started lldpad');
  t.same(eth0?.lldp && { ...eth0.lldp, chassisId: undefined }, { systemName: 'sw-a3', portId: 'Eth1-12', portDescription: 'uplink to a3', chassisId: undefined }, 'sysName, portID (ifname subtype label stripped), portDesc');
  t.ok([lab.mac(sw, 'Eth1-12'), lab.mac(sw, 'Eth1-13')].includes(eth0?.lldp?.chassisId ?? ''), `chassis ID is a switch MAC (${eth0?.lldp?.chassisId})`);
  t.equal(eth0?.carrier, true, 'eth0 brought up: carrier');
  t.ok(eth1 && !eth1.lldp && eth1.carrier === false, 'eth1: no link, no lldp');
  t.ok(r.ms >= 8_500 && r.ms < 17_000, `eth1 was given up after half of the 20 s (${r.ms} ms)`);
  t.ok(existsSync(join(dir, 'lldpad', 'lldpad.conf')), 'lldpad kept its state in the directory it was given (created by the agent)');
  t.ok(lab.pids(box).length > 0, 'lldpad stays running (killed in teardown)');
});

t.test('LLDP through lldpd + lldpctl when lldptool is missing (bash)', async (t) => {
  const dir = join(scratch.dir, 'lldpctl');
  mkdirSync(dir, { mode: 0o755 });
  const sw = lab.add('s2');
  const box = lab.add('b2');
  lab.veth(sw, 'Eth1-12', box, 'eno1', { a: true, b: false });
  lldpSwitch(sw, 'Eth1-12', dir);
  const sock = join(dir, 'box.ctl');
  sh(`ip netns exec ${box} lldpd -r -u ${sock} -p ${join(dir, 'box.pid')} -O /dev/null >${join(dir, 'box.log')} 2>&1 &`);
  for (let i = 0; i < 50 && spawnSync('ip', ['netns', 'exec', box, 'lldpctl', '-u', sock], { stdio: 'ignore' }).status !== 0; i++) await new Promise((r) => setTimeout(r, 100));
  const tools = toolbox('host', ['lldpctl']);
  t.teardown(tools.cleanup);
  const r = await runAgent({ shell: 'bash', path: tools.dir, netns: box, args: ['--print', '--all-interfaces', '--lldp-wait', '20'], env: { KICKSTAND_AGENT_LLDPD_SOCKET: sock } });
  t.equal(r.code, 0, r.stderr);
  const eno1 = parse(r.stdout).interfaces?.find((i) => i.name === 'eno1');
  t.match(eno1?.lldp, { systemName: 'sw-a3', portId: 'Eth1-12', portDescription: 'uplink to a3', chassisId: /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/ }, 'neighbour from lldpctl -f keyvalue');
  t.ok(r.ms < 15_000, `stopped once every NIC had a neighbour (${r.ms} ms)`);
});

// --- the report and the discovery loop against a kickstand stand-in -----------------------------

interface Seen {
  method: string;
  url: string;
  type?: string;
  body: string;
}
type Handler = (req: Seen, res: ServerResponse) => void;
let handler: Handler = (_req, res) => res.writeHead(500).end();
const seen: Seen[] = [];
const server = createServer((req: IncomingMessage, res) => {
  let body = '';
  req.on('data', (d) => (body += d));
  req.on('end', () => {
    const s = { method: req.method ?? '', url: req.url ?? '', type: req.headers['content-type'], body };
    seen.push(s);
    handler(s, res);
  });
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
t.teardown(() => new Promise<void>((r) => server.close(() => r())));
const BASE = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const TOKEN = 'dTok-7f3a9c-SECRET';
const netTools = toolbox('busybox', ['lsblk', 'curl']);
t.teardown(netTools.cleanup);
const agent = (args: string[], env: Record<string, string> = {}) =>
  runAgent({ shell: 'busybox', path: netTools.dir, args: ['--url', BASE + '/', '--token', TOKEN, '--lldp-wait', '0', ...args], env });
const json = (res: ServerResponse, code: number, body: unknown) => res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(body));

t.test('report: 200 is done, 409 stops with the reason (exit 3), 500 and no server only warn', async (t) => {
  seen.length = 0;
  handler = (_req, res) => json(res, 200, { ok: true });
  let r = await agent([]);
  t.equal(r.code, 0, r.stderr);
  t.equal(seen.length, 1);
  t.equal(seen[0].method, 'POST');
  t.equal(seen[0].url, `/boot/inventory?token=${TOKEN}`, 'trailing slash of --url dropped, token in the query');
  t.equal(seen[0].type, 'application/json');
  t.ok(parse(seen[0].body).disks?.length, 'the body is the inventory');
  t.match(r.stderr, /kickstand-agent: inventory reported \(HTTP 200\)/);

  seen.length = 0;
  handler = (_req, res) => res.writeHead(409, { 'content-type': 'text/plain' }).end('disks.sys0: no disk of at least 2000000000000 bytes (profile db-large)\n');
  r = await agent([]);
  t.equal(r.code, 3, 'refused: exit 3');
  t.match(r.stderr, /^kickstand: disks\.sys0: no disk of at least 2000000000000 bytes \(profile db-large\)$/m, 'the reason, prefixed');
  t.equal(seen.length, 1, 'a refusal is not retried');

  seen.length = 0;
  handler = (_req, res) => res.writeHead(500).end('store unavailable');
  r = await agent([]);
  t.equal(r.code, 0, 'a server error does not fail the install');
  t.match(r.stderr, /kickstand-agent: inventory report failed \(HTTP 500\): store unavailable/);
  t.equal(seen.length, 4, 'curl --retry 3');

  r = await runAgent({ shell: 'busybox', path: netTools.dir, args: ['--url', 'http://127.0.0.1:1', '--token', TOKEN, '--lldp-wait', '0'] });
  t.equal(r.code, 0, 'no server: exit 0');
  t.match(r.stderr, /kickstand-agent: could not reach kickstand to report the inventory: curl: \(7\)/);

  // An operator's live image booted by kickstand's discovery boot: URL and token from the kernel command line.
  const proc = openTempDir('ks-agent-proc-');
  t.teardown(proc.cleanup);
  writeFileSync(join(proc.dir, 'cmdline'), `BOOT_IMAGE=vmlinuz kickstand.url=${BASE}/ kickstand.token=${TOKEN} BOOTIF=01-52-54-00-aa-bb-cc quiet\n`);
  seen.length = 0;
  handler = (_req, res) => json(res, 200, { ok: true });
  r = await runAgent({ shell: 'busybox', path: netTools.dir, args: ['--lldp-wait', '0'], env: { KICKSTAND_AGENT_PROC: proc.dir } });
  t.equal(r.code, 0, r.stderr);
  t.equal(seen[0]?.url, `/boot/inventory?token=${TOKEN}`, 'kickstand.url= and kickstand.token= from the kernel command line');
  t.equal(parse(seen[0].body).bootMac, '52:54:00:aa:bb:cc');
  t.notMatch(r.stderr, TOKEN, 'the token is not logged');

  r = await runAgent({ shell: 'busybox', path: netTools.dir, args: ['--token', TOKEN] });
  t.equal(r.code, 2, 'no --url: usage, exit 2');
  t.match(r.stderr, /usage: sh agent\.sh --url BASE --token TOKEN/);
});

t.test('--discover: wait, wait, reboot; 410 reboots; poweroff', async (t) => {
  let reportCode = 200;
  const polls = (answers: Array<[number, unknown]>) => {
    seen.length = 0;
    let i = 0;
    handler = (req, res) => {
      if (req.method === 'POST') return json(res, reportCode, {});
      const [code, body] = answers[Math.min(i++, answers.length - 1)];
      json(res, code, body);
    };
  };
  const flag = (name: string) => join(scratch.dir, name);
  const env = { KICKSTAND_AGENT_REBOOT: `touch ${flag('rebooted')}`, KICKSTAND_AGENT_POWEROFF: `touch ${flag('powered-off')}` };

  polls([
    [200, { action: 'wait' }],
    [200, { action: 'wait' }],
    [200, { action: 'reboot' }],
  ]);
  let r = await agent(['--discover', '--interval', '0.2'], env);
  t.equal(r.code, 0, r.stderr);
  t.ok(existsSync(flag('rebooted')), 'the reboot command ran');
  t.same(seen.map((s) => `${s.method} ${s.url}`), [`POST /boot/inventory?token=${TOKEN}`, ...Array(3).fill(`GET /boot/discovery?token=${TOKEN}`)], 'report once, then poll until told');
  t.match(r.stderr, /kickstand-agent: kickstand says wait\n(?!kickstand-agent: kickstand says wait)[\s\S]*kickstand-agent: rebooting/, 'waits are logged once');
  for (const line of r.stderr.trim().split('\n')) t.match(line, /^kickstand-agent: /, 'one prefixed line per step');
  t.notOk(r.stderr.includes(TOKEN), 'the token is not in the log');

  polls([[410, { error: 'gone' }]]);
  const before = Date.now();
  r = await agent(['--discover', '--interval', '0.2'], { ...env, KICKSTAND_AGENT_REBOOT: `touch ${flag('rebooted-410')}` });
  t.equal(r.code, 0, r.stderr);
  t.ok(existsSync(flag('rebooted-410')), '410: reboot for a fresh token');
  t.match(r.stderr, /token no longer valid \(HTTP 410\)/);
  t.ok(Date.now() - before < 10_000);

  // The report answered 410 (an earlier copy was taken): no second report, straight to the polls.
  reportCode = 410;
  polls([[200, { action: 'reboot' }]]);
  r = await agent(['--discover', '--interval', '0.2'], { ...env, KICKSTAND_AGENT_REBOOT: `touch ${flag('rebooted-after-410-report')}` });
  t.equal(r.code, 0, r.stderr);
  t.same(seen.map((s) => s.method), ['POST', 'GET'], 'one report, one poll');
  t.ok(existsSync(flag('rebooted-after-410-report')));
  reportCode = 200;

  polls([
    [503, 'busy'],
    [200, { action: 'poweroff' }],
  ]);
  r = await agent(['--discover', '--interval', '0.2'], env);
  t.equal(r.code, 0, r.stderr);
  t.ok(existsSync(flag('powered-off')), 'poweroff command ran after a failed poll');
  t.match(r.stderr, /discovery poll failed \(HTTP 503\)[\s\S]*powering off/);
  t.notOk(r.stderr.includes(TOKEN), 'the token is not in the log');
});
