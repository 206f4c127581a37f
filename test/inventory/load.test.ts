/** loadInventory: `kind: rule` documents, their schema errors, profile references and priority ties. */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { InventoryError, loadInventory } from '../../server/inventory/load.js';

const PROFILE = `kind: profile
name: p1
os: rocky-9
firmware: bios
disks: [{ name: sys0, path: /dev/disk/by-path/pci-0000:00:04.0 }]
storage: { disks: [sys0], volumes: [{ name: root, mount: /, grow: true }] }
`;
const rule = (name: string, priority: number, extra = '') =>
  `kind: rule\nname: ${name}\npriority: ${priority}\nprofile: p1\nmatch:\n  - { key: system.product, operator: In, values: [R640] }\n${extra}`;

function dir(t: Test, files: Record<string, string>): string {
  const d = mkdtempSync(join(tmpdir(), 'ks-load-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(d, name, '..'), { recursive: true });
    writeFileSync(join(d, name), text);
  }
  return d;
}

async function refusal(t: Test, d: string): Promise<string[]> {
  const err = await loadInventory(d).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.type(err, InventoryError, 'the directory is refused');
  return (err as InventoryError).problems;
}

t.test('kind: rule documents load as rules, with the schema defaults', async (t) => {
  const d = dir(t, { 'profiles/p1.yaml': PROFILE, 'rules/a.yaml': `${rule('a', 10, 'accept: auto\nmaxCount: 2\n')}---\n${rule('b', 5)}` });
  const inv = await loadInventory(d);
  t.same(inv.machines, []);
  t.same(inv.profiles.map((p) => p.name), ['p1']);
  t.same(inv.rules, [
    { name: 'a', priority: 10, profile: 'p1', match: [{ key: 'system.product', operator: 'In', values: ['R640'] }], machineName: 'm-{{bootMac}}', accept: 'auto', reinstall: false, maxCount: 2 },
    { name: 'b', priority: 5, profile: 'p1', match: [{ key: 'system.product', operator: 'In', values: ['R640'] }], machineName: 'm-{{bootMac}}', accept: 'manual', reinstall: false },
  ]);
});

t.test('a directory without rules has rules: []', async (t) => {
  t.same((await loadInventory(dir(t, { 'p1.yaml': PROFILE }))).rules, []);
});

t.test('the example inventory has its rule, and still three machines', async (t) => {
  const inv = await loadInventory('machines');
  t.same(inv.machines.map((m) => m.name).sort(), ['edge-01', 'util-01', 'web-01']);
  t.same(inv.rules.map((r) => [r.name, r.profile]), [['r640-web', 'r640-raid1-bond']]);
});

t.test('a bad rule names the file, the document and the field', async (t) => {
  const d = dir(t, {
    'p1.yaml': PROFILE,
    'rules.yaml': `${rule('ok', 1)}---\n${rule('bad', 2, 'accept: sometimes\n').replace('operator: In', 'operator: Like')}---\nkind: rule\nname: 9bad\npriority: 3\nprofile: p1\nmatch: []\n`,
  });
  const problems = await refusal(t, d);
  const f = join(d, 'rules.yaml');
  t.same(
    problems.map((p) => p.slice(0, p.indexOf(': ') + 1)),
    [`${f}#2 match.0.operator:`, `${f}#2 accept:`, `${f}#3 name:`, `${f}#3 match:`],
    problems.join('\n'),
  );
});

t.test('a rule whose values do not suit its operator names match.N.values', async (t) => {
  const d = dir(t, { 'p1.yaml': PROFILE, 'r.yaml': rule('r', 1).replace('operator: In, values: [R640]', 'operator: Gt, values: [many]') });
  t.same(await refusal(t, d), [`${join(d, 'r.yaml')} match.0.values: Gt takes exactly one number`]);
});

t.test('an unknown kind names the three kinds', async (t) => {
  const d = dir(t, { 'x.yaml': 'kind: rules\nname: x\n' });
  t.same(await refusal(t, d), [`${join(d, 'x.yaml')} kind: must be "machine", "profile" or "rule"`]);
});

t.test('a rule naming a profile not in the directory is refused', async (t) => {
  const d = dir(t, { 'p1.yaml': PROFILE, 'r.yaml': rule('r', 1).replace('profile: p1', 'profile: nope') });
  t.same(await refusal(t, d), [`rule r profile: no profile named "nope" in ${d}`]);
});

t.test('two rules on one priority are refused, naming both rules and files', async (t) => {
  const d = dir(t, { 'p1.yaml': PROFILE, 'a.yaml': rule('a', 7), 'b.yaml': rule('b', 7), 'c.yaml': rule('c', 8), 'd.yaml': rule('d', 7) });
  const problems = await refusal(t, d);
  t.same(problems, [
    `rule b priority: 7 is also rule "a" (${join(d, 'a.yaml')}, and this one in ${join(d, 'b.yaml')}); ties are refused`,
    `rule d priority: 7 is also rule "a" (${join(d, 'a.yaml')}, and this one in ${join(d, 'd.yaml')}); ties are refused`,
  ]);
});

t.test('problems of every kind are reported together', async (t) => {
  const d = dir(t, { 'p1.yaml': PROFILE, 'm.yaml': 'kind: machine\nname: m1\nprofile: gone\nmacs: ["52:54:00:00:00:01"]\n', 'r.yaml': rule('r', 1).replace('profile: p1', 'profile: gone') });
  t.same(await refusal(t, d), [`machine m1 profile: no profile named "gone" in ${d}`, `rule r profile: no profile named "gone" in ${d}`]);
});

t.test('a cabled slot without MACs loads from a file; a machine with neither is refused naming macs', async (t) => {
  const slot = 'kind: machine\nname: web-x\nprofile: p1\ncabling:\n  data0: { switch: sw-a3, port: Ethernet1/12 }\nreplace: auto\n';
  const inv = await loadInventory(dir(t, { 'profiles/p1.yaml': PROFILE, 'web-x.yaml': slot }));
  t.match(inv.machines, [{ name: 'web-x', macs: [], cabling: { data0: { switch: 'sw-a3', port: 'Ethernet1/12' } }, replace: 'auto' }]);
  const problems = await refusal(t, dir(t, { 'profiles/p1.yaml': PROFILE, 'web-y.yaml': 'kind: machine\nname: web-y\nprofile: p1\n' }));
  t.match(problems, [/web-y\.yaml macs: a machine needs at least one MAC, or cabling to be found by/]);
});
