#!/usr/bin/env node
/**
 * Compiles a TypeScript entry point and every local file it imports into one ES module,
 * dist/KEY/NAME.mjs (default entry: server/cli/main.ts, the one bin/kickstand runs), and prints
 * its path. Packages stay imports of node_modules. KEY names the exact bytes compiled: the first
 * 16 hex digits of the sha1 of `sha1sum -- FILE…` over the inputs, which dist/NAME.inputs lists
 * (the local files esbuild read, this script, package.json and tsconfig.json). bin/kickstand
 * computes the same over the files as they are now and runs dist/KEY/ only if it exists, so a
 * build never outlives a change to anything it was made from, mtimes or not.
 *
 *   node bin/build.mjs [ENTRY]        (npm run build; npm ci runs it as `prepare`)
 *
 * A module's import.meta.url (and dirname, filename) still name its source file, so files read
 * relative to the source (templates, the console's pages) are found as under tsx. A TypeScript file
 * a source names as `new URL('./FILE.ts', import.meta.url)` is code loaded at run time (a worker's
 * entry): it is compiled too, into dist/KEY/FILE.mjs, its inputs part of KEY, and the URL names
 * that build.
 */
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, extname, join, relative, resolve } from 'node:path';
import { build } from 'esbuild';

const root = resolve(import.meta.dirname, '..');
const entry = process.argv[2] ?? 'server/cli/main.ts';
const name = basename(entry, extname(entry));
const dist = join(root, 'dist');
/** Inputs that shape the output without being imported: the build's own options and resolution. */
const EXTRA = ['bin/build.mjs', 'package.json', 'tsconfig.json'];
/** A build older than this that another build replaced is removed (a process may be just starting it). */
const PRUNE_AFTER_MS = 10 * 60_000;
const LOADERS = { '.ts': 'ts', '.js': 'js', '.mjs': 'js', '.json': 'json' };

const sha1 = (data) => createHash('sha1').update(data).digest('hex');

/** A TypeScript file loaded at run time, or one of import.meta's properties (one pass: a rewrite is not rewritten again). */
const META = /new URL\(\s*(['"])(\.{1,2}\/[^'"`]+\.ts)\1\s*,\s*import\.meta\.url\s*\)|import\.meta\.(url|dirname|filename)/g;

/**
 * Rewrites import.meta so that it describes `file` (the source) from `out` (the bundle), which
 * lives at dist/KEY/: relative, so the tree can move as a whole (docker COPY, a renamed clone).
 * A TypeScript file named by URL is handed to `entryPoint`, which says what its build is called.
 */
function sourceMeta(code, file, out, entryPoint) {
  const rel = (p) => JSON.stringify(relative(dirname(out), p));
  if (/import\.meta\.resolve\(\s*['"`]\./.test(code)) throw new Error(`${relative(root, file)}: import.meta.resolve of a relative path would resolve from dist/; use new URL(…, import.meta.url)`);
  return code.replace(META, (_match, _quote, ts, property) => {
    if (ts) return `new URL(${JSON.stringify(`./${entryPoint(resolve(dirname(file), ts))}`)}, import.meta.url)`;
    if (property === 'url') return `new URL(${rel(file)}, import.meta.url).href`;
    return `__ksPath(new URL(${rel(property === 'dirname' ? dirname(file) : file)}, import.meta.url))`;
  });
}

/**
 * One build of `entry`, and of every entry point found in what it compiles, into `outdir`; the
 * sha1 of every local file as esbuild was given it.
 */
async function compile(outdir) {
  const read = new Map();
  for (const f of EXTRA) read.set(f, sha1(readFileSync(join(root, f))));
  /** Output file name → the source compiled into it, in the order found: the loop below reaches every one. */
  const outputs = new Map();
  const entryPoint = (source) => {
    const file = `${basename(source, extname(source))}.mjs`;
    const claimed = outputs.get(file) ?? source;
    if (claimed !== source) throw new Error(`${relative(root, source)} and ${relative(root, claimed)} would both build into ${file}`);
    outputs.set(file, source);
    return file;
  };
  entryPoint(join(root, entry));
  for (const [file, source] of outputs) await bundle(source, join(outdir, file), read, entryPoint);
  for (const f of read.keys()) if (f.startsWith('..') || /\s/.test(f)) throw new Error(`${f}: inputs must be files of this tree, with no blank in their names`);
  return read;
}

/** esbuild: `source` and the local files it imports into one module `out`; packages stay imports. */
async function bundle(source, out, read, entryPoint) {
  await build({
    entryPoints: [source],
    outfile: out,
    bundle: true,
    packages: 'external',
    platform: 'node',
    format: 'esm',
    target: 'node20',
    keepNames: true,
    sourcemap: 'linked',
    logLevel: 'silent',
    banner: { js: "import { fileURLToPath as __ksPath } from 'node:url';" },
    plugins: [
      {
        name: 'source-files',
        setup(b) {
          b.onLoad({ filter: /.*/ }, (args) => {
            const loader = LOADERS[extname(args.path)];
            if (!loader) throw new Error(`${relative(root, args.path)}: no loader for this kind of file`);
            const bytes = readFileSync(args.path);
            read.set(relative(root, args.path), sha1(bytes));
            return { contents: loader === 'json' ? bytes : sourceMeta(bytes.toString('utf8'), args.path, out, entryPoint), loader };
          });
        },
      },
    ],
  });
}

/** `sha1sum -- FILE…` from the root, as bin/kickstand runs it. */
function sha1sum(files) {
  const r = spawnSync('sha1sum', ['--', ...files], { cwd: root });
  if (r.status !== 0) throw new Error(`sha1sum: ${r.error?.message ?? r.stderr}`);
  return r.stdout;
}

/** Builds until the files on disk are still the ones compiled (an editor may save meanwhile). */
async function buildFresh(tmp) {
  for (let attempt = 1; ; attempt++) {
    rmSync(tmp, { recursive: true, force: true });
    const read = await compile(tmp);
    const inputs = [...read.keys()].sort();
    const sums = sha1sum(inputs);
    const now = new Map(sums.toString('utf8').trimEnd().split('\n').map((line) => [line.slice(42), line.slice(0, 40)]));
    if (inputs.every((f) => now.get(f) === read.get(f))) return { inputs, key: sha1(sums).slice(0, 16) };
    if (attempt === 5) throw new Error('the sources kept changing during the build');
  }
}

/** Other builds of this entry, and leftovers of interrupted ones, once nothing can be starting them. */
function prune(keep) {
  for (const e of readdirSync(dist)) {
    const path = join(dist, e);
    const ours = /^[0-9a-f]{16}$/.test(e) && e !== keep && existsSync(join(path, `${name}.mjs`));
    if ((ours || e.startsWith('.tmp-')) && Date.now() - statSync(path).mtimeMs > PRUNE_AFTER_MS) rmSync(path, { recursive: true, force: true });
  }
}

mkdirSync(dist, { recursive: true });
const tmp = join(dist, `.tmp-${process.pid}`);
try {
  const { inputs, key } = await buildFresh(tmp);
  const dir = join(dist, key);
  try {
    renameSync(tmp, dir);
  } catch (err) {
    // Another build of the same bytes got there first: its output is this one's.
    if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err;
  }
  // The list last: once bin/kickstand can read it, the build it leads to is in place.
  writeFileSync(`${tmp}.inputs`, inputs.join('\n') + '\n');
  renameSync(`${tmp}.inputs`, join(dist, `${name}.inputs`));
  prune(key);
  process.stdout.write(`${join(dir, `${name}.mjs`)}\n`);
} catch (err) {
  process.stderr.write(`kickstand build: ${err.message}\n`);
  process.exitCode = 1;
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
