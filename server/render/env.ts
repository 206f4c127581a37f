import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Handlebars from 'handlebars';
import type { Config } from '../config/schema.js';
import { RenderError, type Problem } from '../model/errors.js';

/**
 * The handlebars environment over the template directories. Two areas: `templates` (iPXE,
 * kickstart) and `ignition`. An operator directory is searched before the built-in one, so
 * overriding one partial does not mean copying the whole tree.
 *
 * Renders sit on the hot boot path (thousands per second), so nothing here touches the disk
 * per render: an area re-stats its known files and re-lists its partial directories at most
 * once per `checkIntervalMs`, and recompiles only what changed.
 */
export type Area = 'templates' | 'ignition';

export interface FileStat {
  mtimeMs: number;
  size: number;
}

export interface RenderEnvOptions {
  /** operator directories, searched before the built-in ones */
  templatesDir?: string;
  ignitionDir?: string;
  /** the fallback directories; default: the repository's templates/ and ignition/ */
  builtin?: Partial<Record<Area, string>>;
  checkIntervalMs?: number;
  now?: () => number;
  /** the stat used for freshness checks; tests count calls through it */
  stat?: (file: string) => FileStat | undefined;
}

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const builtinDirs: Record<Area, string> = {
  templates: join(repoRoot, 'templates'),
  ignition: join(repoRoot, 'ignition'),
};

const EXT = '.hbs';
/**
 * Templates print values raw (noEscape: nothing here is HTML). Each output format quotes with
 * its own helper instead:
 *   {{json v}}  JSON (Ignition): any value, escaped by JSON.stringify
 *   {{shq v}}   a POSIX shell word in single quotes ('…'\''…'), for shell lines of %pre/%post
 *   {{shdq v}}  the inside of a double-quoted shell string: \ " $ ` escaped
 *   {{ksq v}}   a double-quoted kickstart string ("…" with \ and " escaped, as pykickstart's shlex reads it)
 *   {{unitval v}} a systemd unit setting's value: % doubled (systemd would expand %n, %h…)
 *   {{concat a b …}} the arguments joined, to quote a composed value as one: {{shq (concat url "&step=post")}}
 * No quoting survives a line break in a kickstart (anaconda splits sections by line before any
 * shell sees them) or an iPXE script, so the quoting helpers refuse line breaks and control
 * characters outright; lint (lint.ts, kickstart-lint.ts) refuses such values first, naming the field.
 */
const compileOptions = { noEscape: true, strict: true } as const;

function oneLine(helper: string, value: unknown): string {
  const s = String(value);
  if (/[\x00-\x1f\x7f]/.test(s)) throw new Error(`${helper}: a value with a line break or control character cannot be quoted on one line`);
  return s;
}
export const quote = {
  shq: (v: unknown) => `'${oneLine('shq', v).replace(/'/g, `'\\''`)}'`,
  shdq: (v: unknown) => oneLine('shdq', v).replace(/[\\"$`]/g, (c) => `\\${c}`),
  ksq: (v: unknown) => `"${oneLine('ksq', v).replace(/[\\"]/g, (c) => `\\${c}`)}"`,
  unitval: (v: unknown) => oneLine('unitval', v).replace(/%/g, '%%'),
};

interface Source extends FileStat {
  file: string;
  fn: Handlebars.TemplateDelegate;
}

function statOrUndefined(file: string): FileStat | undefined {
  try {
    const s = statSync(file);
    return s.isFile() ? { mtimeMs: s.mtimeMs, size: s.size } : undefined;
  } catch {
    return undefined;
  }
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory() || e.name.endsWith(EXT))
      .map((e) => (e.isDirectory() ? `${e.name}/` : e.name));
  } catch {
    return [];
  }
}

class AreaCache {
  private templates = new Map<string, Source>();
  private partialSources = new Map<string, Source>();
  private partials: Record<string, Handlebars.TemplateDelegate> = {};
  private partialProblems: Problem[] = [];
  private checkedAt = Number.NEGATIVE_INFINITY;
  /** bumped whenever a template or partial of this area changed on disk */
  private generation = 0;

  constructor(
    private readonly area: Area,
    private readonly roots: string[],
    private readonly hb: typeof Handlebars,
    private readonly opts: Required<Pick<RenderEnvOptions, 'checkIntervalMs' | 'now' | 'stat'>>,
  ) {}

  /** Looks at the disk when the interval has passed; returns the generation now current. */
  check(): number {
    const now = this.opts.now();
    if (now - this.checkedAt >= this.opts.checkIntervalMs) {
      this.checkedAt = now;
      this.refresh();
    }
    return this.generation;
  }

  render(name: string, view: unknown): string {
    this.check();
    if (this.partialProblems.length) throw new RenderError(this.partialProblems);
    const source = this.templates.get(name) ?? this.load(name);
    try {
      return source.fn(view, { partials: this.partials });
    } catch (err) {
      throw new RenderError([{ path: source.file, message: (err as Error).message }]);
    }
  }

  /**
   * Compiles every template and partial of the area now, so the first render does not; returns
   * the problems of those that do not compile (each will fail its renders, naming its file).
   */
  warm(): Problem[] {
    this.check();
    const problems = [...this.partialProblems];
    for (const name of this.templateNames()) {
      if (this.templates.has(name)) continue;
      try {
        this.load(name);
      } catch (err) {
        problems.push(...(err as RenderError).problems);
      }
    }
    return problems;
  }

  /** Templates are `<root>/<name>.hbs` and `<root>/<dir>/<name>.hbs`, partials aside. */
  private templateNames(): Set<string> {
    const names = new Set<string>();
    for (const root of this.roots)
      for (const entry of listDir(root)) {
        if (entry.endsWith(EXT)) names.add(entry.slice(0, -EXT.length));
        else if (entry !== 'partials/')
          for (const inner of listDir(join(root, entry))) if (inner.endsWith(EXT)) names.add(entry + inner.slice(0, -EXT.length));
      }
    return names;
  }

  /** A file served as it is (the inventory agent), from the operator's directory first. */
  text(relative: string): string {
    const found = this.resolveFile(relative);
    if (!found) throw new RenderError([{ path: `${this.area}/${relative}`, message: `no file ${relative} in ${this.roots.join(', ')}` }]);
    return readFileSync(found.file, 'utf8');
  }

  private resolveFile(relative: string): { file: string; stat: FileStat } | undefined {
    for (const root of this.roots) {
      const file = join(root, relative);
      const stat = this.opts.stat(file);
      if (stat) return { file, stat };
    }
    return undefined;
  }

  /**
   * handlebars' compile() defers its code generation to the template's first call; precompile()
   * + template() is the same code generation, done here, so that warm() leaves nothing for the
   * first render (it took ~40 ms of the first machine's kickstart request after a start).
   */
  private compile(file: string, stat: FileStat): Source {
    try {
      const ast = this.hb.parse(readFileSync(file, 'utf8'));
      const spec = new Function(`return ${this.hb.precompile(ast, compileOptions)}`)() as Parameters<typeof Handlebars.template>[0];
      return { file, ...stat, fn: this.hb.template(spec) };
    } catch (err) {
      throw new RenderError([{ path: file, message: (err as Error).message }]);
    }
  }

  private load(name: string): Source {
    const found = this.resolveFile(name + EXT);
    if (!found) throw new RenderError([{ path: `${this.area}/${name}`, message: `no template ${name}${EXT} in ${this.roots.join(', ')}` }]);
    const source = this.compile(found.file, found.stat);
    this.templates.set(name, source);
    return source;
  }

  /** Partials live in `partials/` at the root (name `x`) or in `<dir>/partials/` (name `<dir>/x`). */
  private partialFiles(): Map<string, string> {
    const found = new Map<string, string>();
    for (const root of this.roots) {
      const dirs = [''].concat(listDir(root).filter((e) => e.endsWith('/')));
      for (const dir of dirs)
        for (const entry of listDir(join(root, dir, 'partials'))) {
          if (!entry.endsWith(EXT)) continue;
          const name = dir + entry.slice(0, -EXT.length);
          if (!found.has(name)) found.set(name, join(root, dir, 'partials', entry));
        }
    }
    return found;
  }

  private refresh(): void {
    for (const [name, cached] of this.templates) {
      const current = this.resolveFile(name + EXT);
      if (!current || current.file !== cached.file || current.stat.mtimeMs !== cached.mtimeMs || current.stat.size !== cached.size) {
        this.templates.delete(name);
        this.generation++;
      }
    }
    const files = this.partialFiles();
    let changed = files.size !== this.partialSources.size;
    const problems: Problem[] = [];
    const next = new Map<string, Source>();
    for (const [name, file] of files) {
      const cached = this.partialSources.get(name);
      const stat = this.opts.stat(file);
      if (!stat) continue;
      if (cached && cached.file === file && cached.mtimeMs === stat.mtimeMs && cached.size === stat.size) {
        next.set(name, cached);
        continue;
      }
      changed = true;
      try {
        next.set(name, this.compile(file, stat));
      } catch (err) {
        problems.push(...(err as RenderError).problems);
      }
    }
    if (problems.length !== this.partialProblems.length) changed = true;
    this.partialProblems = problems;
    if (changed) {
      this.generation++;
      this.partialSources = next;
      this.partials = Object.fromEntries([...next].map(([name, s]) => [name, s.fn]));
    }
  }
}

/** Stands in for the install token in memoized output; only letters, so every URL encoding keeps it intact. */
const TOKEN_SLOT = 'KickstandTokenSlotQx7';
const MEMO_ENTRIES = 4096;

export class RenderEnv {
  private readonly areas: Record<Area, AreaCache>;
  /** the output split at the token's places, so a hit costs one join */
  private readonly memo = new Map<string, { generation: number; parts: string[] }>();

  constructor(options: RenderEnvOptions = {}) {
    const hb = Handlebars.create();
    hb.registerHelper('json', (value: unknown) => JSON.stringify(value));
    hb.registerHelper('join', (list: unknown[], sep: unknown) => list.join(typeof sep === 'string' ? sep : ','));
    hb.registerHelper('shq', quote.shq);
    hb.registerHelper('shdq', quote.shdq);
    hb.registerHelper('ksq', quote.ksq);
    hb.registerHelper('unitval', quote.unitval);
    // the last argument is handlebars' options object
    hb.registerHelper('concat', (...args: unknown[]) => args.slice(0, -1).map(String).join(''));
    const opts = {
      checkIntervalMs: options.checkIntervalMs ?? 1000,
      now: options.now ?? Date.now,
      stat: options.stat ?? statOrUndefined,
    };
    const roots = (dir: string | undefined, area: Area) =>
      [...new Set([dir && resolve(dir), resolve(options.builtin?.[area] ?? builtinDirs[area])].filter((d): d is string => !!d))];
    this.areas = {
      templates: new AreaCache('templates', roots(options.templatesDir, 'templates'), hb, opts),
      ignition: new AreaCache('ignition', roots(options.ignitionDir, 'ignition'), hb, opts),
    };
  }

  /** Compiles every template of both areas; the problems of those that do not compile. */
  warm(): Problem[] {
    return [...this.areas.templates.warm(), ...this.areas.ignition.warm()];
  }

  /** `<area>/<relative>` as it is on disk, operator directory first. */
  text(area: Area, relative: string): string {
    return this.areas[area].text(relative);
  }

  /** Renders `<area>/<name>.hbs`; throws RenderError naming the file on a template problem. */
  render(area: Area, name: string, view: unknown): string {
    return this.areas[area].render(name, view);
  }

  /**
   * Per-install output differs between two installs of an unchanged machine only by the token,
   * so the render (and its lint) runs once per (inputs, template generation) with a placeholder
   * token that is then replaced. `key` must hold every input except the token. Tokens that URL
   * encoding would change are rendered without the memo: their encoded forms differ by context.
   */
  memoize(area: Area, key: string, token: string, produce: (token: string) => string): string {
    if (encodeURIComponent(token) !== token || token.includes(TOKEN_SLOT)) return produce(token);
    const generation = this.areas[area].check();
    let hit = this.memo.get(key);
    if (!hit || hit.generation !== generation) {
      hit = { generation, parts: produce(TOKEN_SLOT).split(TOKEN_SLOT) };
      if (this.memo.size >= MEMO_ENTRIES) this.memo.delete(this.memo.keys().next().value!);
      this.memo.set(key, hit);
    }
    return hit.parts.join(token);
  }
}

export function renderEnvFromConfig(config: Pick<Config, 'templatesDir' | 'ignitionDir'>): RenderEnv {
  return new RenderEnv({ templatesDir: config.templatesDir, ignitionDir: config.ignitionDir });
}
