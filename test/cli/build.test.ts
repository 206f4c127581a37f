/**
 * bin/kickstand runs server/ compiled (bin/build.mjs), and never a build older than the sources:
 * checked in a copy of the tree, whose sources the test edits as a developer would.
 */
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { cli, startServe } from './process.js';

const ROOT = join(import.meta.dirname, '..', '..');

/** The first line of `kickstand --help` in the tree `dir`: it shows the USAGE text that ran. */
async function usage(dir: string): Promise<string> {
  const r = await cli(['--help'], {}, dir);
  if (r.code !== 0) throw new Error(`kickstand --help exited ${r.code}: ${r.stderr}`);
  return r.stdout.split('\n')[0];
}

const builds = (dir: string) => readdirSync(join(dir, 'dist')).filter((e) => /^[0-9a-f]{16}$/.test(e)).sort();

/** Writes `file` with `text`, keeping its mtime (as a copy with -p, an archive or a checkout of the past can). */
function editKeepingMtime(file: string, text: string) {
  const { atime, mtime } = statSync(file);
  writeFileSync(file, text);
  utimesSync(file, atime, mtime);
}

t.test('bin/kickstand runs the sources as they are now, compiled', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ks-build-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const f of ['bin', 'server', 'package.json', 'tsconfig.json']) cpSync(join(ROOT, f), join(dir, f), { recursive: true, preserveTimestamps: true });
  for (const f of ['node_modules', 'templates', 'ignition', 'machines']) symlinkSync(join(ROOT, f), join(dir, f));
  const main = join(dir, 'server', 'cli', 'main.ts');
  const original = readFileSync(main, 'utf8');

  t.equal(await usage(dir), 'kickstand — bare-metal provisioning', 'the first run builds');
  const [first] = builds(dir);
  t.ok(first, 'into dist/KEY/');
  const built = statSync(join(dir, 'dist', first)).mtimeMs;
  const again = await cli(['--help'], {}, dir);
  t.equal(again.stderr, '', 'the second run says nothing');
  t.same(builds(dir), [first], 'and builds nothing');
  t.equal(statSync(join(dir, 'dist', first)).mtimeMs, built);

  editKeepingMtime(main, original.replace('bare-metal provisioning', 'edited in place'));
  t.equal(await usage(dir), 'kickstand — edited in place', 'an edit is run, though the file kept its mtime');

  const extra = join(dir, 'server', 'cli', 'usage-title.ts');
  writeFileSync(extra, "export const TITLE = 'from a new file';\n");
  writeFileSync(main, `import { TITLE } from './usage-title.js';\n${original.replace('bare-metal provisioning', '${TITLE}')}`);
  t.equal(await usage(dir), 'kickstand — from a new file', 'a new file the sources import');
  editKeepingMtime(extra, "export const TITLE = 'the new file, edited';\n");
  t.equal(await usage(dir), 'kickstand — the new file, edited', 'is a source like the others');

  writeFileSync(extra, "export const TITLE = 'two at once';\n");
  const n = builds(dir).length;
  const both = await Promise.all([usage(dir), usage(dir)]);
  t.same(both, ['kickstand — two at once', 'kickstand — two at once'], 'two starts at once (tap runs two test files at a time) both run the edit');
  t.equal(builds(dir).length, n + 1, 'from one build');

  writeFileSync(main, original);
  rmSync(extra);
  t.equal(await usage(dir), 'kickstand — bare-metal provisioning', 'the edits undone');
  t.equal(builds(dir).length, n + 1, 'run the first build again, not a new one');

  // bin/kickstand exec's node: the PID it was started as is the service, and a signal reaches it.
  const data = mkdtempSync(join(tmpdir(), 'ks-build-data-'));
  t.teardown(() => rmSync(data, { recursive: true, force: true }));
  const serve = await startServe({ KICKSTAND_DATA_DIR: data }, dir);
  t.teardown(() => void serve.proc.kill('SIGKILL'));
  const cmdline = readFileSync(`/proc/${serve.proc.pid}/cmdline`, 'utf8').split('\0');
  t.match(cmdline[0], /(^|\/)node$/, 'the process is node');
  t.ok(cmdline.includes(join(dir, 'dist', first, 'main.mjs')), `running the build: ${cmdline.join(' ')}`);
  const ui = await fetch(`http://127.0.0.1:${serve.port}/ui/`);
  t.equal(ui.status, 200, "files read relative to the sources are found (the console's pages)");
  t.match(await ui.text(), /<script type="module"/);
  const vendor = await fetch(`http://127.0.0.1:${serve.port}/ui/vendor/preact.js`);
  t.equal(vendor.status, 200, 'and packages resolved from the build (preact for the console)');
  const exited = new Promise<number | null>((resolve) => serve.proc.once('exit', resolve));
  serve.proc.kill('SIGTERM');
  t.equal(await exited, 0, 'SIGTERM stops the service cleanly');

  // No build possible (here: dist/ is a file): the sources run through tsx, as they are.
  rmSync(join(dir, 'dist'), { recursive: true });
  writeFileSync(join(dir, 'dist'), '');
  editKeepingMtime(main, original.replace('bare-metal provisioning', 'through tsx'));
  const fallback = await cli(['--help'], {}, dir);
  t.equal(fallback.stdout.split('\n')[0], 'kickstand — through tsx');
  t.match(fallback.stderr, /could not build dist\/ .*running the sources through tsx/);
  t.ok(existsSync(join(dir, 'dist')));
});
