import type { Problem } from '../model/errors.js';

/**
 * Checks on the rendered kickstart text that ksvalidator does not make: it parses each
 * command alone, while anaconda fails (late, mid-install) on references between them.
 * Also guards operator-edited templates, which lint on the profile cannot see.
 */
interface Command {
  line: number;
  name: string;
  args: string[];
  opts: Map<string, string | true>;
}

const SECTION = /^%(pre|post|packages|onerror|pre-install|traceback|addon|anaconda)\b/;
/** The commands the rules below look at; the others are not parsed, which keeps lint cheap. */
const CHECKED = new Set(['part', 'partition', 'raid', 'volgroup', 'logvol', 'bootloader', 'clearpart', 'ignoredisk', 'network', 'rootpw']);

/** Splits a command line the way shlex does for what kickstart templates emit: words and quoted strings. */
function tokenize(line: string): string[] {
  if (!line.includes('"') && !line.includes("'")) return line.split(/\s+/);
  return (line.match(/"[^"]*"|'[^']*'|\S+/g) ?? []).map((t) =>
    t.length > 1 && (t[0] === '"' || t[0] === "'") && t.at(-1) === t[0] ? t.slice(1, -1) : t,
  );
}

function parse(text: string): { commands: Command[]; problems: Problem[] } {
  const commands: Command[] = [];
  const problems: Problem[] = [];
  let open: { name: string; line: number } | undefined;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    const at = i + 1;
    // a CR or other control character: anaconda, the shell and a viewer each split the line differently
    if (/[\x00-\x08\x0b-\x1f\x7f]/.test(raw)) problems.push({ path: `kickstart:${at}`, message: 'holds a carriage return or control character' });
    if (open) {
      if (line === '%end') open = undefined;
      else if (line.startsWith('%') && SECTION.test(line)) {
        problems.push({ path: `kickstart:${open.line}`, message: `%${open.name} is not closed by %end before line ${at}` });
        open = { name: SECTION.exec(line)![1], line: at };
      }
      return;
    }
    if (!line || line.startsWith('#')) return;
    if (SECTION.test(line)) {
      open = { name: SECTION.exec(line)![1], line: at };
      return;
    }
    if (line === '%end') return void problems.push({ path: `kickstart:${at}`, message: '%end without an open section' });
    if (unbalanced(line)) problems.push({ path: `kickstart:${at}`, message: 'a quote is not closed on this line' });
    const space = line.search(/\s/);
    if (!CHECKED.has(space < 0 ? line : line.slice(0, space))) return;
    const [name, ...rest] = tokenize(line);
    const opts = new Map<string, string | true>();
    const args: string[] = [];
    for (const t of rest) {
      const m = /^--([^=]+)(?:=(.*))?$/.exec(t);
      if (m) opts.set(m[1], m[2] ?? true);
      else args.push(t);
    }
    commands.push({ line: at, name, args, opts });
  });
  if (open) problems.push({ path: `kickstart:${open.line}`, message: `%${open.name} is not closed by %end` });
  return { commands, problems };
}

const str = (v: string | true | undefined) => (typeof v === 'string' ? v : undefined);

/**
 * What a value may hold, by where it lands. Kickstart command lines are split like shlex does
 * (spaces split, quotes group, backslash escapes, # starts a comment), %packages takes one name a
 * line, %pre/%post lines are shell (quotes, $ and backtick expand), iPXE expands ${…} and splits on
 * spaces, systemd expands %. So a value printed on such a line is a `word`: none of those
 * characters. Some fields need one of them and are quoted or checked for it: `spaced` (an SSH key
 * line, printed in "…"; joined kernel arguments), `crypt` (the $ of a crypt hash, on a kickstart
 * command line where $ means nothing), `url` (%XX escapes), `spacedUrl` (the iPXE kernel line).
 * `line` values only reach JSON or the converger's shell quoting: one line is all they owe.
 * `free` values are file contents and commands: anything.
 */
export type ValueKind = 'word' | 'spaced' | 'crypt' | 'url' | 'spacedUrl' | 'line' | 'free';

const NAMES: Record<string, string> = { '"': 'a double quote', "'": 'a single quote', '`': 'a backtick', '\\': 'a backslash' };

/** Why `value` would break out of its line or quoting where a `kind` value lands, or undefined. */
export function valueProblem(value: string, kind: ValueKind): string | undefined {
  if (kind === 'free') return undefined;
  if (/[\x00-\x1f\x7f]/.test(value)) return 'holds a line break or control character: it would end its line and start a new one (a kickstart section, a command)';
  if (kind === 'line') return undefined;
  const spaces = kind === 'spaced' || kind === 'spacedUrl';
  if (!spaces && /\s/.test(value)) return 'holds a space: it would split into two arguments';
  const quote = /["'`\\]/.exec(value);
  if (quote) return `holds ${NAMES[quote[0]]}: it would break out of its quoting`;
  if (kind !== 'crypt' && value.includes('$')) return 'holds $: a shell or iPXE would expand it ($(…), ${…})';
  if (kind === 'url' || kind === 'spacedUrl' ? /%(?![0-9A-Fa-f]{2})/.test(value) : value.includes('%'))
    return 'holds %: it could open a kickstart section (%pre) or a systemd specifier';
  if (value.includes('#')) return 'holds #: a kickstart line ends at it (a comment)';
  return undefined;
}

/**
 * Checks every string of `value` (and every key of its objects, as a word) with the kind
 * `kindOf` gives its dotted path; problems name that path. Walking the whole value means a field
 * added later is checked as a word until someone decides otherwise.
 */
export function lintValues(value: unknown, kindOf: (path: string) => ValueKind, prefix = ''): Problem[] {
  const problems: Problem[] = [];
  const walk = (v: unknown, path: string) => {
    if (typeof v === 'string') {
      const why = valueProblem(v, kindOf(path));
      if (why) problems.push({ path: path || '(value)', message: why });
    } else if (Array.isArray(v)) v.forEach((x, i) => walk(x, path ? `${path}.${i}` : String(i)));
    else if (v !== null && typeof v === 'object')
      for (const [k, x] of Object.entries(v)) {
        const at = path ? `${path}.${k}` : k;
        const why = kindOf(at) === 'free' ? undefined : valueProblem(k, 'word');
        if (why) problems.push({ path: at, message: `the name ${why}` });
        walk(x, at);
      }
  };
  walk(value, prefix);
  return problems;
}

const VIEW_KINDS: Array<[RegExp, ValueKind]> = [
  [/^(rootKeys|users\.\d+\.sshKeys)\.\d+$/, 'spaced'],
  [/^(bootloaderAppend|storage\.raids\.\d+\.members)$/, 'spaced'],
  [/^(rootPasswordHash|users\.\d+\.passwordHash)$/, 'crypt'],
  [/^(install\.(url|appstream)|repos\.\d+\.baseurl|callbacks\.\w+|inventory\.(agent|base))$/, 'url'],
];

/**
 * The kickstart's view (kickstartView) before it is rendered: every value the template prints
 * must stay on its line and inside its quotes. Problems name the view field (users.0.sshKeys.1,
 * packages.3, callbacks.start…), which mirrors the profile field it came from.
 */
export function lintKickstartView(view: unknown): Problem[] {
  return lintValues(view, (path) => VIEW_KINDS.find(([re]) => re.test(path))?.[1] ?? 'word').map((p) => ({ ...p, message: `kickstart value ${p.path} ${p.message}` }));
}

/** A command line whose quotes do not close: shlex would swallow what follows, or refuse the kickstart. */
function unbalanced(line: string): boolean {
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = undefined;
    } else if (c === '\\') i++;
    else if (c === '"' || c === "'") quote = c;
    else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]))) return false;
  }
  return quote !== undefined;
}

export function lintKickstart(text: string, expect: { firmware: 'bios' | 'uefi' }): Problem[] {
  const { commands, problems } = parse(text);
  const add = (c: Command | undefined, message: string) => problems.push({ path: c ? `kickstart:${c.line}` : 'kickstart', message });

  for (const name of ['bootloader', 'rootpw', 'ignoredisk', 'clearpart']) {
    const found = commands.filter((c) => c.name === name);
    if (found.length !== 1) add(found[1], `${name} must appear exactly once (found ${found.length})`);
  }

  const ignoredisk = commands.find((c) => c.name === 'ignoredisk');
  const allowed = new Set((str(ignoredisk?.opts.get('only-use')) ?? '').split(',').filter(Boolean));
  const checkDisks = (c: Command, option: string) => {
    for (const disk of (str(c.opts.get(option)) ?? '').split(',').filter(Boolean))
      if (!allowed.has(disk)) add(c, `${c.name} --${option}=${disk} is not in ignoredisk --only-use`);
  };

  const defined = new Set<string>();
  const volumeGroups = new Set<string>();
  const mounts = new Map<string, number>();
  const growers = new Map<string, number>();
  const claimMount = (c: Command, mount: string | undefined) => {
    if (!mount || mount === 'swap' || mount === 'biosboot' || /^(pv|raid)\./.test(mount)) return;
    const first = mounts.get(mount);
    if (first !== undefined) add(c, `mountpoint ${mount} is already used on line ${first}`);
    else mounts.set(mount, c.line);
  };
  const needDefined = (c: Command, members: string[]) => {
    for (const m of members) if (!defined.has(m)) add(c, `${c.name} uses ${m} before a part or raid defines it`);
  };

  for (const c of commands) {
    switch (c.name) {
      case 'part':
      case 'partition':
        checkDisks(c, 'ondisk');
        if (!c.opts.has('ondisk')) add(c, `part ${c.args[0]} has no --ondisk: anaconda would pick any disk`);
        claimMount(c, c.args[0]);
        if (c.args[0]) defined.add(c.args[0]);
        break;
      case 'raid':
        needDefined(c, c.args.slice(1));
        claimMount(c, c.args[0]);
        if (c.args[0]) defined.add(c.args[0]);
        break;
      case 'volgroup':
        needDefined(c, c.args.slice(1));
        if (c.args[0]) volumeGroups.add(c.args[0]);
        break;
      case 'logvol': {
        const vg = str(c.opts.get('vgname'));
        if (!vg || !volumeGroups.has(vg)) add(c, `logvol ${c.args[0]} names volume group ${vg ?? '(none)'} before any volgroup defines it`);
        claimMount(c, c.args[0]);
        if (vg && c.opts.has('grow')) {
          const first = growers.get(vg);
          if (first !== undefined) add(c, `a second growing logvol in ${vg} (first on line ${first})`);
          else growers.set(vg, c.line);
        }
        break;
      }
      case 'bootloader':
        checkDisks(c, 'boot-drive');
        break;
      case 'clearpart':
        checkDisks(c, 'drives');
        break;
      case 'network':
        if (c.opts.get('bootproto') === 'static')
          for (const o of ['ip', 'netmask', 'gateway']) if (!str(c.opts.get(o))) add(c, `static network --device=${str(c.opts.get('device'))} has no --${o}`);
        break;
    }
  }

  if (expect.firmware === 'uefi' && !mounts.has('/boot/efi')) add(undefined, 'UEFI needs a /boot/efi partition');
  if (expect.firmware === 'bios' && !commands.some((c) => (c.name === 'part' || c.name === 'partition') && c.args[0] === 'biosboot'))
    add(undefined, 'BIOS boot from a GPT disk needs a biosboot partition');
  return problems;
}
