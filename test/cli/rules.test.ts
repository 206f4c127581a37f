/** `kickstand rule …` and `kickstand apply` with rules, as a real CLI process against a test service. */
import { cpSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { startTestService } from '../helpers/service.js';
import { cli } from './process.js';

const rule = (name: string, priority: number, extra = '') =>
  `kind: rule\nname: ${name}\npriority: ${priority}\nprofile: r640-raid1-bond\nmatch:\n  - { key: system.product, operator: In, values: ["PowerEdge R640"] }\n${extra}`;

t.test('apply -f DIR sends rules and plans them; rule list, show, rm', async (t) => {
  const { config, base, api } = await startTestService(t);
  const env = { KICKSTAND_URL: base, KICKSTAND_API_TOKEN: config.api.token! };
  const dir = mkdtempSync(join(tmpdir(), 'ks-rules-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  cpSync('machines', dir, { recursive: true });
  writeFileSync(join(dir, 'rules', 'big.yaml'), rule('big-r640', 200, 'accept: auto\nmaxCount: 4\nmachineName: big-{{system.serial}}\n'));

  const plan = await cli(['apply', '-f', dir, '--dry-run'], env);
  t.equal(plan.code, 0, plan.stderr);
  t.match(plan.stdout, /^ACTION\s+KIND\s+NAME$/m);
  t.match(plan.stdout, /^create\s+rule\s+big-r640$/m, 'the rules are in the plan');
  t.match(plan.stdout, /^create\s+rule\s+r640-web$/m);
  t.match(plan.stdout, /plan: 8 change\(s\), 0 unchanged/);
  t.same((await api('GET', '/api/v1/rules')).json, [], 'a dry run writes nothing');

  const apply = await cli(['apply', '-f', dir], env);
  t.equal(apply.code, 0, apply.stderr);
  t.match(apply.stdout, /applied 8 change\(s\)/);
  t.same((await api('GET', '/api/v1/rules')).json.map((r: { name: string }) => r.name), ['big-r640', 'r640-web']);

  const list = await cli(['rule', 'list'], env);
  t.equal(list.code, 0, list.stderr);
  const lines = list.stdout.trimEnd().split('\n');
  t.match(lines[0], /^NAME\s+PRIORITY\s+PROFILE\s+ACCEPT\s+MACHINENAME\s+MAXCOUNT$/);
  t.match(lines[1], /^big-r640\s+200\s+r640-raid1-bond\s+auto\s+big-\{\{system\.serial\}\}\s+4$/, 'highest priority first');
  t.match(lines[2], /^r640-web\s+100\s+r640-raid1-bond\s+manual\s+web-\{\{system\.serial\}\}\s+-$/);
  t.equal(JSON.parse((await cli(['rule', 'list', '--json'], env)).stdout).length, 2);
  const show = await cli(['rule', 'show', 'big-r640'], env);
  t.same(JSON.parse(show.stdout), {
    name: 'big-r640',
    priority: 200,
    profile: 'r640-raid1-bond',
    match: [{ key: 'system.product', operator: 'In', values: ['PowerEdge R640'] }],
    machineName: 'big-{{system.serial}}',
    accept: 'auto',
    reinstall: false,
    maxCount: 4,
  });

  // Swap the two priorities: one apply, two updates.
  writeFileSync(join(dir, 'rules', 'big.yaml'), rule('big-r640', 100, 'accept: auto\nmaxCount: 4\nmachineName: big-{{system.serial}}\n'));
  writeFileSync(join(dir, 'rules', 'r640-web.yaml'), rule('r640-web', 200, 'machineName: web-{{system.serial}}\n'));
  const swap = await cli(['apply', '-f', dir], env);
  t.equal(swap.code, 0, swap.stderr);
  t.match(swap.stdout, /^update\s+rule\s+big-r640$/m);
  t.match(swap.stdout, /^update\s+rule\s+r640-web$/m);
  t.match(swap.stdout, /plan: 2 change\(s\), 6 unchanged/);
  t.same((await api('GET', '/api/v1/rules')).json.map((r: { name: string; priority: number }) => [r.name, r.priority]), [['r640-web', 200], ['big-r640', 100]]);

  // A tie in the directory is refused before anything is sent.
  writeFileSync(join(dir, 'rules', 'tie.yaml'), rule('tie', 100));
  const tie = await cli(['apply', '-f', dir], env);
  t.equal(tie.code, 1);
  t.match(tie.stderr, /rule tie priority: 100 is also rule "big-r640" \(.*big\.yaml, and this one in .*tie\.yaml\); ties are refused/);

  // A tie with a stored rule the directory no longer has: refused by kickstand, unless --prune.
  unlinkSync(join(dir, 'rules', 'big.yaml'));
  const kept = await cli(['apply', '-f', dir], env);
  t.equal(kept.code, 1, 'the API refuses it');
  t.match(kept.stderr, /kickstand: rule tie: priority 100 is also rule "big-r640" \(stored, not in this apply; prune deletes it\); ties are refused/);
  const pruned = await cli(['apply', '-f', dir, '--prune'], env);
  t.equal(pruned.code, 0, pruned.stderr);
  t.match(pruned.stdout, /^create\s+rule\s+tie$/m);
  t.match(pruned.stdout, /^delete\s+rule\s+big-r640$/m, 'prune deletes the rule the directory dropped');
  t.same((await api('GET', '/api/v1/rules')).json.map((r: { name: string }) => r.name), ['r640-web', 'tie']);

  const rm = await cli(['rule', 'rm', 'tie'], env);
  t.equal(rm.code, 0, rm.stderr);
  t.equal(rm.stdout, 'rule tie deleted\n');
  const again = await cli(['rule', 'rm', 'tie'], env);
  t.equal(again.code, 1);
  t.equal(again.stderr, 'kickstand: no rule named tie\n', 'a 404 as the CLI shows API errors');
  const missing = await cli(['rule', 'show', 'nope'], env);
  t.equal(missing.code, 1);
  t.match(missing.stderr, /no rule named nope/);
  const usage = await cli(['rule'], env);
  t.equal(usage.code, 1);
  t.match(usage.stderr, /usage: kickstand rule list\|show NAME\|rm NAME\|test ID/);
});

t.test('a bad rule file is refused with its file, document and field', async (t) => {
  const { config, base } = await startTestService(t);
  const dir = mkdtempSync(join(tmpdir(), 'ks-rules-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  cpSync('machines', dir, { recursive: true });
  writeFileSync(join(dir, 'rules', 'bad.yaml'), rule('bad', 5).replace('operator: In', 'operator: Maybe'));
  const r = await cli(['apply', '-f', dir], { KICKSTAND_URL: base, KICKSTAND_API_TOKEN: config.api.token! });
  t.equal(r.code, 1);
  t.match(r.stderr, new RegExp(`${join(dir, 'rules', 'bad.yaml').replace(/[.]/g, '\\.')} match\\.0\\.operator: Invalid option`));
});

t.test('usage lists the new commands', async (t) => {
  const r = await cli(['--help'], {});
  for (const line of [
    'machine list|show NAME|hardware NAME|add -f FILE|rm NAME',
    'rule list|show NAME|rm NAME',
    'rule test ID',
    'discovered list|show ID|reject ID|rm ID',
    'discovered accept ID --name NAME --profile PROFILE [--reinstall] [--ipv4 CIDR [--gateway IP]]',
  ])
    t.ok(r.stdout.includes(line), line);
});
