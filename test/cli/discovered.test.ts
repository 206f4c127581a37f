/**
 * The CLI's discovery commands (discovered …, rule test, machine hardware): argument parsing, the
 * requests they send and what they print, against a small HTTP stand-in that answers with the
 * API's shapes and records each request.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { cli } from './process.js';

const TOKEN = 'cli-test-token-0123456789';
const ID = '0a1b2c3d4e5f';

type Seen = { method: string; url: string; auth?: string; body?: unknown };
type Answer = { status: number; body?: unknown };

async function standIn(t: Test, routes: Record<string, (req: Seen) => Answer>) {
  const seen: Seen[] = [];
  const server = createServer(async (req: IncomingMessage, res) => {
    let text = '';
    for await (const chunk of req) text += chunk;
    const r: Seen = { method: req.method!, url: req.url!, auth: req.headers.authorization, ...(text ? { body: JSON.parse(text) } : {}) };
    seen.push(r);
    const route = routes[`${r.method} ${r.url}`];
    const answer = route ? route(r) : { status: 404, body: { error: 'Not Found', message: `Route ${r.method}:${r.url} not found` } };
    if (answer.body === undefined) return void res.writeHead(answer.status).end();
    res.writeHead(answer.status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(answer.body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const env = { KICKSTAND_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, KICKSTAND_API_TOKEN: TOKEN };
  return { seen, run: (args: string[]) => cli(args, env) };
}

const entry = {
  id: ID,
  macs: ['52:54:00:aa:00:01', '52:54:00:aa:00:02'],
  state: 'matched',
  summary: 'Dell Inc. PowerEdge R640 · 2 CPUs x86_64 · 192 GiB · 3 disks (480 GB, 480 GB, 3.8 TB) · 2 NICs · uefi',
  rule: 'r640-web',
  reason: 'accept: manual',
  firstSeenAt: '2026-11-30T10:00:00.000Z',
  seenAt: '2026-11-30T10:05:00.000Z',
};
const fresh = { id: 'ffffeeeedddd', macs: ['52:54:00:bb:00:01'], state: 'new', summary: 'QEMU Standard PC · 1 CPU', firstSeenAt: '2026-11-30T09:00:00.000Z', seenAt: '2026-11-30T09:00:00.000Z' };
const inventory = {
  system: { manufacturer: 'Dell Inc.', product: 'PowerEdge R640', serial: 'ABC1234' },
  firmware: { mode: 'uefi', vendor: 'Dell Inc.', version: '2.19.1' },
  cpu: { model: 'Intel Xeon Gold 6130', count: 2, architecture: 'x86_64' },
  memory: { totalMiB: 196608 },
  disks: [
    { name: 'sda', sizeBytes: 480103981056, rotational: false, model: 'SSDSC2KB480G8', byPath: 'pci-0000:3b:00.0-scsi-0:0:0:0' },
    { name: 'sdc', sizeBytes: 3840755982336, rotational: false },
  ],
  interfaces: [
    { name: 'eno1', mac: '52:54:00:aa:00:01', speedMbps: 25000, carrier: true, lldp: { systemName: 'leaf-a3', portId: 'Ethernet12' } },
    { name: 'eno2', mac: '52:54:00:aa:00:02', carrier: false },
  ],
  bootMac: '52:54:00:aa:00:01',
};

t.test('discovered list and show', async (t) => {
  const { seen, run } = await standIn(t, {
    'GET /api/v1/discovered': () => ({ status: 200, body: [entry, fresh] }),
    [`GET /api/v1/discovered/${ID}`]: () => ({ status: 200, body: { ...entry, inventory } }),
  });
  const list = await run(['discovered', 'list']);
  t.equal(list.code, 0, list.stderr);
  const lines = list.stdout.trimEnd().split('\n');
  t.match(lines[0], /^ID\s+STATE\s+SUMMARY\s+RULE\s+MACS\s+SEENAT$/, 'the columns');
  t.match(lines[1], new RegExp(`^${ID}\\s+matched\\s+Dell Inc\\. PowerEdge R640 .* uefi\\s+r640-web\\s+52:54:00:aa:00:01,52:54:00:aa:00:02\\s+2026-11-30T10:05:00\\.000Z$`));
  t.match(lines[2], /^ffffeeeedddd\s+new\s+QEMU Standard PC · 1 CPU\s+-\s+52:54:00:bb:00:01\s+2026-11-30T09:00:00\.000Z$/, 'no rule is a dash');
  t.equal(seen[0].auth, `Bearer ${TOKEN}`, 'the token goes along');

  const json = await run(['discovered', 'list', '--json']);
  t.same(JSON.parse(json.stdout), [entry, fresh], '--json is the API answer');

  const show = await run(['discovered', 'show', ID]);
  t.equal(show.code, 0, show.stderr);
  t.same(JSON.parse(show.stdout), { ...entry, inventory }, 'show prints the entry with its report as JSON');

  const missing = await run(['discovered', 'show']);
  t.equal(missing.code, 1);
  t.match(missing.stderr, /kickstand: missing ID/);
  const usage = await run(['discovered', 'frob']);
  t.equal(usage.code, 1);
  t.match(usage.stderr, /usage: kickstand discovered list\|show ID\|accept ID \[--name NAME --profile PROFILE/);
  t.equal(seen.length, 3, 'a usage error sends nothing');
});

t.test('discovered accept: the body from the flags, the answer in one line', async (t) => {
  const { seen, run } = await standIn(t, {
    [`POST /api/v1/discovered/${ID}/accept`]: (r) => {
      const b = r.body as { name: string; profile: string; reinstall?: boolean };
      if (!b.name) return { status: 201, body: { machine: { name: 'web-01', profile: 'r640-raid1-bond', macs: entry.macs, state: 'reinstall-requested' }, entry: { ...entry, state: 'accepted', machine: 'web-01', replaces: 'web-01' }, reinstall: true } };
      if (b.profile === 'small-bios')
        return { status: 409, body: { error: 'Misfit', message: "profile small-bios does not fit this machine's hardware: firmware: the profile is bios, the box booted uefi", issues: [{ path: 'firmware', message: 'the profile is bios, the box booted uefi' }] } };
      return { status: 201, body: { machine: { name: b.name, profile: b.profile, macs: entry.macs, state: 'registered' }, entry: { ...entry, state: 'accepted', machine: b.name }, reinstall: b.reinstall ?? false } };
    },
  });
  const full = await run(['discovered', 'accept', ID, '--name', 'web-02', '--profile', 'r640-raid1-bond', '--reinstall', '--ipv4', '10.0.10.22/24', '--gateway', '10.0.10.1']);
  t.equal(full.code, 0, full.stderr);
  t.same(seen.at(-1), {
    method: 'POST',
    url: `/api/v1/discovered/${ID}/accept`,
    auth: `Bearer ${TOKEN}`,
    body: { name: 'web-02', profile: 'r640-raid1-bond', reinstall: true, ipv4: { address: '10.0.10.22/24', gateway: '10.0.10.1' } },
  });
  t.equal(full.stdout, `accepted ${ID} as machine web-02 (profile r640-raid1-bond), reinstalling\n`);

  const plain = await run(['discovered', 'accept', ID, '--name', 'web-03', '--profile', 'r640-raid1-bond']);
  t.equal(plain.code, 0, plain.stderr);
  t.same(seen.at(-1)!.body, { name: 'web-03', profile: 'r640-raid1-bond' }, 'only the flags given');
  t.equal(plain.stdout, `accepted ${ID} as machine web-03 (profile r640-raid1-bond)\n`);

  const addrOnly = await run(['discovered', 'accept', ID, '--name', 'web-04', '--profile', 'r640-raid1-bond', '--ipv4', '10.0.10.24/24']);
  t.same(seen.at(-1)!.body, { name: 'web-04', profile: 'r640-raid1-bond', ipv4: { address: '10.0.10.24/24' } });
  t.equal(addrOnly.code, 0);

  const replace = await run(['discovered', 'accept', ID]);
  t.equal(replace.code, 0, replace.stderr);
  t.same(seen.at(-1)!.body, {}, 'no flags: an empty body (the box replaces the machine it is cabled for)');
  t.equal(replace.stdout, `accepted ${ID} as machine web-01 (profile r640-raid1-bond), reinstalling\n`);

  const json = await run(['discovered', 'accept', ID, '--name', 'web-05', '--profile', 'r640-raid1-bond', '--json']);
  t.equal(JSON.parse(json.stdout).machine.name, 'web-05', '--json prints the answer');

  const misfit = await run(['discovered', 'accept', ID, '--name', 'util-02', '--profile', 'small-bios']);
  t.equal(misfit.code, 1, 'a refusal exits 1');
  t.match(misfit.stderr, /^kickstand: profile small-bios does not fit this machine's hardware: firmware: the profile is bios, the box booted uefi\n$/, 'as the CLI shows API errors');

  const sent = seen.length;
  const refusals = [
    [['discovered', 'accept', ID, '--profile', 'p'], /kickstand: missing --name NAME/],
    [['discovered', 'accept', ID, '--name', 'n'], /kickstand: missing --profile PROFILE/],
    [['discovered', 'accept', '--name', 'n', '--profile', 'p'], /kickstand: missing ID/],
    [['discovered', 'accept', ID, '--name', 'n', '--profile', 'p', '--gateway', '10.0.10.1'], /kickstand: --gateway needs --ipv4 CIDR/],
    [['discovered', 'accept', ID, '--name', 'n', '--profile', 'p', '--ipv6', 'x'], /Unknown option '--ipv6'/],
  ] as const;
  // Each is a process of its own: run side by side.
  const results = await Promise.all(refusals.map(([args]) => run([...args])));
  refusals.forEach(([args, why], i) => {
    t.equal(results[i].code, 1, args.join(' '));
    t.match(results[i].stderr, why);
  });
  t.equal(seen.length, sent, 'none of these sent a request');
});

t.test('discovered reject and rm', async (t) => {
  const { seen, run } = await standIn(t, {
    [`POST /api/v1/discovered/${ID}/reject`]: () => ({ status: 200, body: { ...entry, state: 'rejected' } }),
    [`DELETE /api/v1/discovered/${ID}`]: () => ({ status: 204 }),
  });
  const reject = await run(['discovered', 'reject', ID]);
  t.equal(reject.code, 0, reject.stderr);
  t.same(seen.at(-1), { method: 'POST', url: `/api/v1/discovered/${ID}/reject`, auth: `Bearer ${TOKEN}` }, 'no body');
  t.equal(reject.stdout, `rejected ${ID}: its agent is told to power off\n`);
  t.equal(JSON.parse((await run(['discovered', 'reject', ID, '--json'])).stdout).state, 'rejected');

  const rm = await run(['discovered', 'rm', ID]);
  t.equal(rm.code, 0, rm.stderr);
  t.same(seen.at(-1), { method: 'DELETE', url: `/api/v1/discovered/${ID}`, auth: `Bearer ${TOKEN}` });
  t.equal(rm.stdout, `discovered ${ID} deleted\n`);

  const gone = await run(['discovered', 'rm', 'aaaaaaaaaaaa']);
  t.equal(gone.code, 1);
  t.match(gone.stderr, /kickstand: Route DELETE:\/api\/v1\/discovered\/aaaaaaaaaaaa not found/, "the API's message");
});

t.test('rule test ID: the verdict of every rule, the reasons indented', async (t) => {
  const verdicts = [
    { rule: 'r640-web', priority: 100, matches: true, chosen: true, reasons: ['system.product is "PowerEdge R640", In [PowerEdge R640]', 'disks.count is 3, Gt 2'] },
    { rule: 'any-dell', priority: 50, matches: true, chosen: false, reasons: ['outranked by rule "r640-web" (priority 100)', 'system.manufacturer is "Dell Inc.", In [Dell Inc.]'] },
    { rule: 'small', priority: 10, matches: false, chosen: false, reasons: ['disks.count is 3, not Lt 2'] },
  ];
  const { seen, run } = await standIn(t, {
    [`GET /api/v1/discovered/${ID}/rules`]: () => ({ status: 200, body: verdicts }),
    'GET /api/v1/discovered/ffffeeeedddd/rules': () => ({ status: 200, body: [verdicts[2]] }),
    'GET /api/v1/discovered/aaaaaaaaaaaa/rules': () => ({ status: 200, body: [] }),
  });
  const r = await run(['rule', 'test', ID]);
  t.equal(r.code, 0, r.stderr);
  t.same(seen.at(-1)!.url, `/api/v1/discovered/${ID}/rules`);
  t.equal(
    r.stdout,
    [
      '✓ chosen   r640-web (priority 100)',
      '    system.product is "PowerEdge R640", In [PowerEdge R640]',
      '    disks.count is 3, Gt 2',
      '✓ matches  any-dell (priority 50)',
      '    outranked by rule "r640-web" (priority 100)',
      '    system.manufacturer is "Dell Inc.", In [Dell Inc.]',
      '✗          small (priority 10)',
      '    disks.count is 3, not Lt 2',
      '',
    ].join('\n'),
  );
  const none = await run(['rule', 'test', 'ffffeeeedddd']);
  t.match(none.stdout, /✗ +small \(priority 10\)\n {4}disks\.count is 3, not Lt 2\nno rule matches ffffeeeedddd\n$/, 'says when no rule is chosen');
  t.match((await run(['rule', 'test', 'aaaaaaaaaaaa'])).stdout, /^no discovery rules/);
  t.same(JSON.parse((await run(['rule', 'test', ID, '--json'])).stdout), verdicts, '--json is the API answer');
  const missing = await run(['rule', 'test']);
  t.equal(missing.code, 1);
  t.match(missing.stderr, /missing ID/);
});

t.test('machine hardware NAME: a summary, or the report with --json', async (t) => {
  const hw = { machine: 'web-02', source: 'discovery', reportedAt: '2026-11-30T10:05:00.000Z', inventory };
  const { seen, run } = await standIn(t, {
    'GET /api/v1/machines/web-02/hardware': () => ({ status: 200, body: hw }),
    'GET /api/v1/machines/bare-01/hardware': () => ({ status: 200, body: { machine: 'bare-01', source: 'install', reportedAt: '2026-11-30T11:00:00.000Z', inventory: {} } }),
    'GET /api/v1/machines/vm-01/hardware': () => ({ status: 200, body: { machine: 'vm-01', source: 'install', reportedAt: '2026-11-30T11:00:00.000Z', inventory: { cpu: { count: 1, architecture: 'aarch64' } } } }),
    'GET /api/v1/machines/web-09/hardware': () => ({ status: 404, body: { error: 'Not Found', message: 'no hardware report for a machine named web-09' } }),
  });
  const r = await run(['machine', 'hardware', 'web-02']);
  t.equal(r.code, 0, r.stderr);
  t.equal(seen.at(-1)!.url, '/api/v1/machines/web-02/hardware');
  const lines = r.stdout.trimEnd().split('\n');
  t.equal(lines[0], 'web-02: hardware from discovery, reported 2026-11-30T10:05:00.000Z');
  t.same(lines.slice(1, 7), [
    '  system    Dell Inc. PowerEdge R640, serial ABC1234',
    '  firmware  uefi, Dell Inc. 2.19.1',
    '  cpu       2 × Intel Xeon Gold 6130, x86_64',
    '  memory    192 GiB',
    '  boot MAC  52:54:00:aa:00:01',
    '  disks (2)',
  ]);
  t.match(lines[7], /^ {4}NAME\s+SIZE\s+TYPE\s+MODEL\s+SERIAL\s+BYPATH$/);
  t.match(lines[8], /^ {4}sda\s+480 GB\s+ssd\s+SSDSC2KB480G8\s+-\s+pci-0000:3b:00\.0-scsi-0:0:0:0$/);
  t.match(lines[9], /^ {4}sdc\s+3\.8 TB\s+ssd\s+-\s+-\s+-$/);
  t.equal(lines[10], '  interfaces (2)');
  t.match(lines[12], /^ {4}eno1\s+52:54:00:aa:00:01\s+25000 Mb\/s\s+up\s+leaf-a3, Ethernet12$/);
  t.match(lines[13], /^ {4}eno2\s+52:54:00:aa:00:02\s+-\s+down\s+-$/);
  t.same(JSON.parse((await run(['machine', 'hardware', 'web-02', '--json'])).stdout), hw, '--json is the API answer');
  t.equal((await run(['machine', 'hardware', 'bare-01'])).stdout, 'bare-01: hardware from install, reported 2026-11-30T11:00:00.000Z\n', 'an empty report: the header only');
  t.match((await run(['machine', 'hardware', 'vm-01'])).stdout, /^ {2}cpu {7}1 CPU, aarch64$/m, 'a count without a model');
  const none = await run(['machine', 'hardware', 'web-09']);
  t.equal(none.code, 1);
  t.match(none.stderr, /kickstand: no hardware report for a machine named web-09/);
});
