// Summarizes bench/tftp/run.sh: median wall time per case and server over all rounds, MB/s, ratio.
// Usage: node summarize.mjs JSON_DIR PORT=name…
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const [dir, ...names] = process.argv.slice(2);
const serverOf = new Map(names.map((n) => n.split('=')));
const times = new Map(); // case → server → seconds[]
for (const file of readdirSync(dir).sort()) {
  const testCase = file.replace(/-\d+\.json$/, '');
  const { results } = JSON.parse(readFileSync(path.join(dir, file), 'utf8'));
  for (const r of results) {
    const port = r.command.match(/(?::|\s)(\d{4,5})(?:\/|$)/)[1];
    const server = serverOf.get(port);
    if (!times.has(testCase)) times.set(testCase, new Map());
    const byServer = times.get(testCase);
    byServer.set(server, [...(byServer.get(server) ?? []), ...r.times]);
  }
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
console.log('| case | server | runs | median ms | MB/s | kickstand ÷ server (speed ratio) |');
console.log('|---|---|---|---|---|---|');
for (const [testCase, byServer] of times) {
  const ks = median(byServer.get('kickstand'));
  for (const [server, xs] of byServer) {
    const m = median(xs);
    const ratio = server === 'kickstand' ? '' : `${(m / ks).toFixed(2)}×`;
    console.log(`| ${testCase} | ${server} | ${xs.length} | ${(m * 1000).toFixed(1)} | ${(1.048576 / m).toFixed(1)} | ${ratio} |`);
  }
}
