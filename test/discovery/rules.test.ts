import t from 'tap';
import { evaluateRule, pickRule, priorityClash } from '../../server/discovery/rules.js';
import { Rule, type RuleInput } from '../../server/model/discovery.js';
import { Inventory } from '../../server/model/hardware.js';

const inv = Inventory.parse({
  system: { manufacturer: 'Dell Inc.', product: 'PowerEdge R650', serial: 'ABC1234' },
  cpu: { count: 64, architecture: 'x86_64' },
  memory: { totalMiB: 262144 },
  disks: [{ name: 'sda', sizeBytes: 480e9, rotational: false }],
  interfaces: [
    { name: 'eno1', mac: '52:54:00:00:00:01', speedMbps: 1000, carrier: true },
    { name: 'eno2', mac: '52:54:00:00:00:02', speedMbps: 25000, carrier: false },
  ],
  firmware: { mode: 'uefi' },
  rack: '12',
  slot: 'U07',
});

const rule = (input: Partial<RuleInput> & Pick<RuleInput, 'match'>) => Rule.parse({ name: 'r', profile: 'p', ...input });
const one = (key: string, operator: string, values?: string[]) => rule({ match: [{ key, operator: operator as never, values }] });

t.test('every operator, with the reason it gives', async (t) => {
  const table: [string, string, string[] | undefined, boolean, string][] = [
    // In: compared as strings, any element through arrays.
    ['system.product', 'In', ['PowerEdge R640'], false, 'system.product is "PowerEdge R650", not In [PowerEdge R640]'],
    ['system.product', 'In', ['PowerEdge R640', 'PowerEdge R650'], true, 'system.product is "PowerEdge R650", In [PowerEdge R640, PowerEdge R650]'],
    ['system.uuid', 'In', ['x'], false, 'system.uuid does not exist, not In [x]'],
    ['interfaces.speedMbps', 'In', ['25000'], true, 'interfaces.speedMbps is 25000, 1000, In [25000]'],
    ['interfaces.speedMbps', 'In', ['40000'], false, 'interfaces.speedMbps is 1000, 25000, not In [40000]'],
    ['disks.rotational', 'In', ['false'], true, 'disks.rotational is false, In [false]'],
    ['interfaces.carrier', 'In', ['true'], true, 'interfaces.carrier is true, false, In [true]'],
    ['cpu.count', 'In', ['64.0'], false, 'cpu.count is 64, not In [64.0]'],
    ['disks.count', 'In', ['1'], true, 'disks.count is 1, In [1]'],
    // NotIn: no value listed; an absent key holds, as in Kubernetes.
    ['system.product', 'NotIn', ['PowerEdge R640'], true, 'system.product is "PowerEdge R650", NotIn [PowerEdge R640]'],
    ['system.product', 'NotIn', ['PowerEdge R650'], false, 'system.product is "PowerEdge R650", not NotIn [PowerEdge R650]'],
    ['system.uuid', 'NotIn', ['x'], true, 'system.uuid does not exist, NotIn [x]'],
    ['interfaces.speedMbps', 'NotIn', ['25000'], false, 'interfaces.speedMbps is 25000, 1000, not NotIn [25000]'],
    ['interfaces.carrier', 'NotIn', ['false'], false, 'interfaces.carrier is false, true, not NotIn [false]'],
    // Exists / DoesNotExist: the fact is the reason.
    ['system.serial', 'Exists', undefined, true, 'system.serial is "ABC1234"'],
    ['interfaces.lldp.systemName', 'Exists', undefined, false, 'interfaces.lldp.systemName does not exist'],
    ['interfaces.lldp.systemName', 'DoesNotExist', undefined, true, 'interfaces.lldp.systemName does not exist'],
    ['firmware.mode', 'DoesNotExist', undefined, false, 'firmware.mode is "uefi"'],
    ['disks.rotational', 'Exists', undefined, true, 'disks.rotational is false'],
    ['interfaces.count', 'Exists', undefined, true, 'interfaces.count is 2'],
    // Gt / Lt: numbers, and strings that parse as numbers; any element.
    ['disks.count', 'Gt', ['1'], false, 'disks.count is 1, not Gt 1'],
    ['disks.count', 'Gt', ['0'], true, 'disks.count is 1, Gt 0'],
    ['disks.count', 'Lt', ['2'], true, 'disks.count is 1, Lt 2'],
    ['disks.count', 'Lt', ['1'], false, 'disks.count is 1, not Lt 1'],
    ['interfaces.speedMbps', 'Gt', ['10000'], true, 'interfaces.speedMbps is 25000, 1000, Gt 10000'],
    ['interfaces.speedMbps', 'Lt', ['10000'], true, 'interfaces.speedMbps is 1000, 25000, Lt 10000'],
    ['interfaces.speedMbps', 'Gt', ['25000'], false, 'interfaces.speedMbps is 1000, 25000, not Gt 25000'],
    ['rack', 'Gt', ['11.5'], true, 'rack is "12", Gt 11.5'],
    ['rack', 'Lt', ['-1'], false, 'rack is "12", not Lt -1'],
    ['slot', 'Gt', ['0'], false, 'slot is "U07", not Gt 0'],
    ['system.product', 'Lt', ['1e9'], false, 'system.product is "PowerEdge R650", not Lt 1e9'],
    ['interfaces.carrier', 'Gt', ['0'], false, 'interfaces.carrier is true, false, not Gt 0'],
    ['system.uuid', 'Gt', ['0'], false, 'system.uuid does not exist, not Gt 0'],
    ['bmc.count', 'Lt', ['5'], false, 'bmc.count does not exist, not Lt 5'],
  ];
  for (const [key, op, values, matches, reason] of table) {
    const v = evaluateRule(one(key, op, values), inv);
    t.equal(v.matches, matches, `${key} ${op} ${values ?? ''} → ${matches}`);
    t.same(v.reasons, [reason], `${key} ${op} reason`);
  }
});

t.test('all expressions must hold, each explained', async (t) => {
  const r = rule({
    name: 'web',
    priority: 5,
    match: [
      { key: 'system.manufacturer', operator: 'In', values: ['Dell Inc.'] },
      { key: 'disks.count', operator: 'Gt', values: ['1'] },
    ],
  });
  t.same(evaluateRule(r, inv), {
    rule: 'web',
    priority: 5,
    matches: false,
    reasons: ['system.manufacturer is "Dell Inc.", In [Dell Inc.]', 'disks.count is 1, not Gt 1'],
  });
  const both = rule({ match: [...r.match.slice(0, 1), { key: 'disks.count', operator: 'Lt', values: ['2'] }] });
  t.equal(evaluateRule(both, inv).matches, true);
});

t.test('quoted values are capped in number and length', async (t) => {
  const hostile = Inventory.parse({
    system: { product: 'P'.repeat(200) },
    interfaces: Array.from({ length: 40 }, (_, i) => ({ name: `eth${i}`, mac: `52:54:00:00:01:${i.toString(16).padStart(2, '0')}`, lldp: { systemName: `switch-${i}` } })),
  });
  const long = evaluateRule(one('system.product', 'In', ['x']), hostile).reasons[0];
  t.equal(long, `system.product is "${'P'.repeat(63)}…", not In [x]`);
  const many = evaluateRule(one('interfaces.lldp.systemName', 'In', ['switch-33']), hostile).reasons[0];
  t.equal(many, 'interfaces.lldp.systemName is "switch-33", "switch-0", "switch-1", "switch-2", "switch-3" and 35 more, In [switch-33]', 'the deciding value first');
  const operands = evaluateRule(one('system.product', 'In', ['a', 'b', 'c', 'd', 'e', 'f', 'g']), hostile).reasons[0];
  t.match(operands, /not In \[a, b, c, d, e, and 2 more\]$/);
  t.ok(many.length < 300);
  const controls = Inventory.parse({}) as Record<string, unknown>;
  controls.note = 'a\u001b[2Jb\u009bc';
  t.equal(evaluateRule(one('note', 'Exists'), controls as Inventory).reasons[0], 'note is "a [2Jb c"', 'control characters never reach a reason');
});

t.test('pickRule: highest matching priority wins, maxCount steps aside, every rule explained', async (t) => {
  const dell = { key: 'system.manufacturer', operator: 'In' as const, values: ['Dell Inc.'] };
  const rules = [
    rule({ name: 'low', priority: 1, match: [dell] }),
    rule({ name: 'hp', priority: 50, match: [{ key: 'system.manufacturer', operator: 'In', values: ['HPE'] }] }),
    rule({ name: 'full', priority: 30, match: [dell], maxCount: 2 }),
    rule({ name: 'web', priority: 20, match: [dell], maxCount: 3 }),
  ];
  const counts: Record<string, number> = { full: 2, web: 2 };
  const asked: string[] = [];
  const picked = pickRule(rules, inv, (name) => (asked.push(name), counts[name] ?? 0));
  t.equal(picked.rule?.name, 'web');
  t.same(
    picked.verdicts.map((v) => [v.rule, v.priority, v.matches, v.chosen, v.reasons]),
    [
      ['hp', 50, false, false, ['system.manufacturer is "Dell Inc.", not In [HPE]']],
      ['full', 30, false, false, ['maxCount 2 reached', 'system.manufacturer is "Dell Inc.", In [Dell Inc.]']],
      ['web', 20, true, true, ['system.manufacturer is "Dell Inc.", In [Dell Inc.]']],
      ['low', 1, true, false, ['outranked by rule "web" (priority 20)', 'system.manufacturer is "Dell Inc.", In [Dell Inc.]']],
    ],
  );
  t.same(asked.sort(), ['full', 'web'], 'only rules with a maxCount are counted');

  counts.web = 3;
  t.equal(pickRule(rules, inv, (name) => counts[name] ?? 0).rule?.name, 'low', 'once web is full too, the next one takes the box');
  counts.web = 0;
  counts.full = 1;
  t.equal(pickRule(rules, inv, (name) => counts[name] ?? 0).rule?.name, 'full', 'below maxCount the rule matches');

  const none = pickRule([rules[1]], inv, () => 0);
  t.equal(none.rule, undefined);
  t.same(none.verdicts.map((v) => v.chosen), [false]);
  t.same(pickRule([], inv, () => 0), { rule: undefined, verdicts: [] });
});

t.test('priorityClash', async (t) => {
  const m = [{ key: 'cpu.count', operator: 'Exists' as const }];
  t.equal(priorityClash([rule({ name: 'a', priority: 10, match: m }), rule({ name: 'b', priority: 20, match: m })]), undefined);
  t.same(priorityClash([rule({ name: 'a', priority: 10, match: m }), rule({ name: 'b', priority: 20, match: m }), rule({ name: 'c', priority: 10, match: m })]), {
    path: 'rules.c.priority',
    message: 'priority 10 is also rule "a"; ties are refused',
  });
  t.same(priorityClash([rule({ name: 'x', match: m }), rule({ name: 'y', match: m })]), {
    path: 'rules.y.priority',
    message: 'priority 0 is also rule "x"; ties are refused',
  }, 'the default priority clashes too');
  t.equal(priorityClash([]), undefined);
});
