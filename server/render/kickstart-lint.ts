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
