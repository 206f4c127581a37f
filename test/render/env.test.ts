import { cpSync, mkdirSync, mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { builtinDirs, RenderEnv, type FileStat } from '../../server/render/env.js';
import { RenderError } from '../../server/model/errors.js';
import { renderKickstart } from '../../server/render/kickstart.js';
import { ctxFor, examples } from './helpers.js';

function tmp(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'ks-env-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes a file and moves its mtime forward, so the edit is visible even within one mtime tick. */
function edit(file: string, text: string) {
  const before = (() => {
    try {
      return statSync(file).mtimeMs;
    } catch {
      return 0;
    }
  })();
  writeFileSync(file, text);
  const next = new Date(Math.max(Date.now(), before + 2000));
  utimesSync(file, next, next);
}

t.test('a template edit is picked up without a restart, after the check interval', async (t) => {
  const dir = tmp(t);
  mkdirSync(join(dir, 'ipxe'));
  const file = join(dir, 'ipxe', 'hello.ipxe.hbs');
  edit(file, 'v1 {{name}}');
  let now = 0;
  const env = new RenderEnv({ templatesDir: dir, now: () => now });
  t.equal(env.render('templates', 'ipxe/hello.ipxe', { name: 'a' }), 'v1 a');
  edit(file, 'v2 {{name}}');
  now = 500;
  t.equal(env.render('templates', 'ipxe/hello.ipxe', { name: 'a' }), 'v1 a', 'within the interval the cached template serves');
  now = 1000;
  t.equal(env.render('templates', 'ipxe/hello.ipxe', { name: 'a' }), 'v2 a', 'after it the edit is live');
});

t.test('the real clock: an edit to the operator kickstart is live within about a second', async (t) => {
  const dir = tmp(t);
  cpSync(builtinDirs.templates, dir, { recursive: true });
  const env = new RenderEnv({ templatesDir: dir });
  const web = (await examples()).find((e) => e.machine.name === 'web-01')!;
  const ctx = ctxFor(web.machine, web.profile);
  t.notMatch(renderKickstart(ctx, env), 'eula --agreed');
  const file = join(dir, 'kickstart', 'rocky-9.ks.hbs');
  edit(file, (await import('node:fs')).readFileSync(file, 'utf8').replace('text\n', 'text\neula --agreed\n'));
  await new Promise((r) => setTimeout(r, 1100));
  t.match(renderKickstart(ctx, env), 'eula --agreed');
});

t.test('partials: edits, new files and operator overrides of one partial', async (t) => {
  const op = tmp(t);
  const base = tmp(t);
  mkdirSync(join(base, 'kickstart', 'partials'), { recursive: true });
  writeFileSync(join(base, 'kickstart', 'main.hbs'), '[{{> kickstart/a}}|{{> kickstart/b}}]');
  writeFileSync(join(base, 'kickstart', 'partials', 'a.hbs'), 'A');
  writeFileSync(join(base, 'kickstart', 'partials', 'b.hbs'), 'B');
  let now = 0;
  const env = new RenderEnv({ templatesDir: op, builtin: { templates: base }, now: () => now });
  t.equal(env.render('templates', 'kickstart/main', {}), '[A|B]');
  mkdirSync(join(op, 'kickstart', 'partials'), { recursive: true });
  edit(join(op, 'kickstart', 'partials', 'b.hbs'), 'B-operator');
  edit(join(base, 'kickstart', 'partials', 'a.hbs'), 'A2');
  now = 1000;
  t.equal(env.render('templates', 'kickstart/main', {}), '[A2|B-operator]', 'operator partial wins, built-in edit is live');
  rmSync(join(op, 'kickstart', 'partials', 'b.hbs'));
  now = 2000;
  t.equal(env.render('templates', 'kickstart/main', {}), '[A2|B]', 'removing the override falls back to the built-in');
});

t.test('no file system access between checks: renders stay cheap', async (t) => {
  const stats: string[] = [];
  let now = 0;
  const env = new RenderEnv({
    now: () => now,
    stat: (file): FileStat | undefined => {
      stats.push(file);
      try {
        const s = statSync(file);
        return s.isFile() ? { mtimeMs: s.mtimeMs, size: s.size } : undefined;
      } catch {
        return undefined;
      }
    },
  });
  const web = (await examples()).find((e) => e.machine.name === 'web-01')!;
  const ctx = ctxFor(web.machine, web.profile);
  renderKickstart(ctx, env);
  const first = stats.length;
  t.ok(first > 0, 'the first render looks at the files');
  for (let i = 0; i < 1000; i++) {
    now += 0.5;
    renderKickstart(ctx, env);
  }
  t.equal(stats.length, first, '1000 renders within the interval stat nothing');
  now += 1000;
  renderKickstart(ctx, env);
  const perCheck = stats.length - first;
  t.ok(perCheck > 0 && new Set(stats.slice(first)).size === perCheck, 'one check stats each known file once');
});

t.test('template problems are RenderErrors naming the file', async (t) => {
  const dir = tmp(t);
  mkdirSync(join(dir, 'ipxe'));
  writeFileSync(join(dir, 'ipxe', 'broken.ipxe.hbs'), '{{#if x}}unclosed');
  writeFileSync(join(dir, 'ipxe', 'typo.ipxe.hbs'), '{{nmae}}');
  const env = new RenderEnv({ templatesDir: dir });
  const err = t.throws(() => env.render('templates', 'ipxe/broken.ipxe', { x: true })) as RenderError;
  t.type(err, RenderError);
  t.match(err.problems[0].path, 'broken.ipxe.hbs');
  const strict = t.throws(() => env.render('templates', 'ipxe/typo.ipxe', { name: 'a' })) as RenderError;
  t.type(strict, RenderError, 'a misspelt field fails instead of rendering empty');
  t.match(strict.problems[0].message, /nmae/);
  t.throws(() => env.render('templates', 'ipxe/missing.ipxe', {}), RenderError);
});

t.test('warm compiles every template and partial before the first render, and names those that do not compile', async (t) => {
  const op = tmp(t);
  const base = tmp(t);
  mkdirSync(join(base, 'ipxe', 'partials'), { recursive: true });
  mkdirSync(join(op, 'ipxe'), { recursive: true });
  writeFileSync(join(base, 'top.hbs'), 'top');
  writeFileSync(join(base, 'ipxe', 'fine.ipxe.hbs'), 'fine {{> ipxe/p}}');
  writeFileSync(join(base, 'ipxe', 'partials', 'p.hbs'), 'p');
  // Parsed fine; refused only by handlebars' code generation, which compile() runs at the first render.
  writeFileSync(join(op, 'ipxe', 'codegen.ipxe.hbs'), '{{> ipxe/p a b}}');
  writeFileSync(join(base, 'ipxe', 'codegen.ipxe.hbs'), 'the built-in one, shadowed by the operator\'s');
  writeFileSync(join(op, 'ipxe', 'unclosed.ipxe.hbs'), '{{#if x}}');
  const env = new RenderEnv({ templatesDir: op, builtin: { templates: base, ignition: tmp(t) } });
  const problems = env.warm();
  t.same(
    problems.map((p) => p.path).sort(),
    [join(op, 'ipxe', 'codegen.ipxe.hbs'), join(op, 'ipxe', 'unclosed.ipxe.hbs')],
    'the operator\'s two broken templates, not the built-in one they shadow',
  );
  t.match(problems.find((p) => p.path.endsWith('codegen.ipxe.hbs'))!.message, /partial arguments/);
  // Compiled already: the files may go, the renders do not need them until the next check.
  rmSync(join(base, 'ipxe', 'fine.ipxe.hbs'));
  rmSync(join(base, 'top.hbs'));
  t.equal(env.render('templates', 'ipxe/fine.ipxe', {}), 'fine p');
  t.equal(env.render('templates', 'top', {}), 'top');
  const err = t.throws(() => env.render('templates', 'ipxe/codegen.ipxe', {})) as RenderError;
  t.match(err.problems[0], { path: join(op, 'ipxe', 'codegen.ipxe.hbs') }, 'the render fails as warm said');
});

t.test('every built-in template compiles', async (t) => {
  t.same(new RenderEnv().warm(), []);
});

t.test('quoting helpers: each output format its own, and no quoting for a line break', async (t) => {
  const dir = tmp(t);
  mkdirSync(join(dir, 'ipxe'));
  writeFileSync(join(dir, 'ipxe', 'q.ipxe.hbs'), 'sh {{shq v}}\ndq "{{shdq v}}"\nks {{ksq v}}\nunit {{unitval v}}\ncat {{shq (concat v "&x=1")}}');
  const env = new RenderEnv({ templatesDir: dir });
  const nasty = `it's "$(reboot)" \`id\` \${x} \\ 100%`;
  const out = env.render('templates', 'ipxe/q.ipxe', { v: nasty }).split('\n');
  t.equal(out[0], `sh 'it'\\''s "$(reboot)" \`id\` \${x} \\ 100%'`);
  t.equal(out[1], 'dq "it\'s \\"\\$(reboot)\\" \\`id\\` \\${x} \\\\ 100%"');
  t.equal(out[2], 'ks "it\'s \\"$(reboot)\\" `id` ${x} \\\\ 100%"');
  t.equal(out[3], `unit it's "$(reboot)" \`id\` \${x} \\ 100%%`);
  t.equal(out[4], `cat 'it'\\''s "$(reboot)" \`id\` \${x} \\ 100%&x=1'`);
  // what a POSIX shell makes of the quoted forms: the value, unchanged
  const { execFileSync } = await import('node:child_process');
  t.equal(execFileSync('sh', ['-c', `printf %s ${out[0].slice(3)}`], { encoding: 'utf8' }), nasty, 'shq reads back as the value');
  t.equal(execFileSync('sh', ['-c', `printf %s ${out[1].slice(3)}`], { encoding: 'utf8' }), nasty, 'shdq reads back as the value');
  // pykickstart splits command lines with Python's shlex: ksq must read back as one argument, the value
  const split = execFileSync('python3', ['-c', 'import json, shlex, sys; print(json.dumps(shlex.split(sys.argv[1])))', out[2]], { encoding: 'utf8' });
  t.same(JSON.parse(split), ['ks', nasty], 'shlex reads ksq back as one argument');
  for (const v of ['a\nb', 'a\rb', '%end\n'])
    t.throws(() => env.render('templates', 'ipxe/q.ipxe', { v }), RenderError, `${JSON.stringify(v)} cannot be quoted on one line`);
});
