/**
 * The rooms' rules of DESIGN.md, checked on the source: who may import whom, and who writes
 * machine status. A change that breaks one fails here, naming the file.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const server = join(root, 'server');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}
/** A file's room: its folder under server/, or its own name for main.ts and log.ts. */
const room = (file: string) => relative(server, file).split('/')[0].replace(/\.ts$/, '');

const files = sources(server).map((file) => {
  const text = readFileSync(file, 'utf8');
  const imports = [...text.matchAll(/^(?:import|export)[^;]*? from '(\.[^']+)'/gms)].map((m) => resolve(dirname(file), m[1]));
  return { file, name: relative(root, file), room: room(file), text, rooms: new Set(imports.map(room).filter((r) => r !== room(file))) };
});

t.test('no import circles between rooms', async (t) => {
  const edges = new Map<string, Set<string>>();
  for (const f of files) for (const r of f.rooms) edges.set(f.room, (edges.get(f.room) ?? new Set()).add(r));
  const cycles: string[] = [];
  const walk = (at: string, path: string[]) => {
    if (path.includes(at)) return void cycles.push([...path.slice(path.indexOf(at)), at].join(' → '));
    for (const next of edges.get(at) ?? []) walk(next, [...path, at]);
  };
  for (const start of edges.keys()) walk(start, []);
  t.same([...new Set(cycles)], [], 'rooms import each other in one direction only');
  t.ok(edges.size >= 10, 'the walk saw the rooms');
});

t.test('who may import whom', async (t) => {
  const rules: [string[], string[], string][] = [
    [['model'], ['*'], 'the model imports no other room'],
    [['dhcp', 'tftp', 'render', 'power', 'converge', 'files'], ['store', 'lifecycle', 'reads', 'inventory', 'http'], 'protocol code and renderers know the model, not the store or the services'],
    [['dhcp', 'tftp'], ['dhcp', 'tftp', 'render', 'power', 'converge'].map(String), 'one protocol does not import another'],
    [['store'], ['lifecycle', 'http', 'inventory', 'reads'], 'the store knows only the model'],
    [['reads'], ['lifecycle', 'http', 'inventory'], 'reads sit below the services'],
    [['lifecycle'], ['http', 'inventory', 'dhcp', 'tftp', 'power', 'converge', 'render'], 'the lifecycle is given its drivers by main.ts'],
    [['discovery'], ['http', 'dhcp', 'tftp', 'power', 'converge', 'render'], 'discovery decides on reports; protocols and HTTP call it, not the reverse'],
  ];
  for (const [from, banned, why] of rules)
    for (const f of files.filter((f) => from.includes(f.room))) {
      const bad = [...f.rooms].filter((r) => (banned[0] === '*' ? r !== 'model' : banned.includes(r)));
      t.same(bad, [], `${f.name}: ${why}`);
    }
});

t.test('only the lifecycle writer writes machine status', async (t) => {
  const writers = files.filter((f) => /\bstatus\.(put|delete)\(/.test(f.text)).map((f) => f.name);
  t.same(writers.sort(), ['server/lifecycle/writer.ts', 'server/store/sqlite.ts'].filter((w) => writers.includes(w)).sort());
  t.ok(writers.includes('server/lifecycle/writer.ts'), 'the writer is found by this check');
});
