/**
 * The HTTP side of the dnsmasq baseline: a plain node server speaking the machine-side contract
 * (/boot/ipxe, /boot/assets, /boot/kickstart, /boot/callback) so the installer stand-in and the
 * timings are exercised exactly as against kickstand, plus kickstand's discovery endpoints as the
 * inventory agent calls them: GET /boot/discovery/agent (the script, when the config names an
 * `agentFile`), POST /boot/inventory?token= (recorded, answered 201) and GET /boot/discovery?token=
 * (answered from the machine's `actions`, one per poll, the last repeated; default wait). It prints
 * one JSON line per request, callback, report and poll for the test to read.
 * Run inside the test's namespace: `stub-boot-server-main.ts CONFIG`.
 */
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { join, normalize } from 'node:path';

export interface StubMachine {
  mac: string;
  token: string;
  kickstart: string;
  /** Extra kernel arguments for this machine's install (standin.mode=kickstart, standin.after=poweroff, …). */
  kernelArgs?: string;
  /** Answers to the agent's polls (GET /boot/discovery), in order; the last one repeats. Default: always wait. */
  actions?: string[];
}

export interface StubConfig {
  host: string;
  port: number;
  assetsDir: string;
  /** The inventory agent served at GET /boot/discovery/agent; without it that path is a 404. */
  agentFile?: string;
  machines: StubMachine[];
}

export type StubEvent =
  | { type: 'listening' }
  | { type: 'http'; method: string; path: string; query: string; status: number; at: number }
  | { type: 'callback'; event: string; step: string | null; token: string | null; body: string; at: number }
  | { type: 'inventory'; token: string; contentType: string | null; body: string; at: number }
  | { type: 'poll'; token: string; action: string; at: number };

function emit(event: StubEvent): void {
  process.stdout.write(JSON.stringify(event) + '\n');
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d) => (body += d));
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

/** BOOTIF= as kickstand puts it on the kernel line: the stand-in and the agent take the boot NIC from it. */
function ipxeScript(base: string, m: StubMachine): string {
  return [
    '#!ipxe',
    'echo kickstand-e2e stub: ${net0/mac} on ${platform}',
    `kernel ${base}/boot/assets/vmlinuz initrd=initrd.gz console=ttyS0 panic=-1 BOOTIF=01-\${net0/mac:hexhyp} inst.ks=${base}/boot/kickstart?token=${m.token} ${m.kernelArgs ?? ''}`,
    `initrd ${base}/boot/assets/initrd.gz`,
    'boot',
    '',
  ].join('\n');
}

/** Polls answered so far, per token. */
const polls = new Map<string, number>();

async function handle(config: StubConfig, req: IncomingMessage, res: ServerResponse): Promise<number> {
  const url = new URL(req.url ?? '/', 'http://stub');
  const base = `http://${config.host}:${config.port}`;
  const send = (status: number, body: string, type = 'text/plain'): number => {
    res.writeHead(status, { 'content-type': type }).end(body);
    return status;
  };
  const token = url.searchParams.get('token');
  const m = config.machines.find((x) => x.token === token);
  if (req.method === 'GET' && url.pathname === '/boot/ipxe') {
    const byMac = config.machines.find((x) => x.mac === url.searchParams.get('mac'));
    return byMac ? send(200, ipxeScript(base, byMac)) : send(404, 'unknown machine\n');
  }
  if (req.method === 'GET' && url.pathname.startsWith('/boot/assets/')) {
    const rel = normalize(url.pathname.slice('/boot/assets/'.length));
    if (rel.startsWith('..') || rel.startsWith('/')) return send(403, 'no\n');
    const file = join(config.assetsDir, rel);
    const size = await stat(file).then((s) => s.size, () => -1);
    if (size < 0) return send(404, 'no such asset\n');
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size });
    createReadStream(file).pipe(res);
    return 200;
  }
  if (req.method === 'GET' && url.pathname === '/boot/kickstart') return m ? send(200, m.kickstart) : send(403, 'bad token\n');
  const cb = /^\/boot\/callback\/(start|progress|hostkeys|built|failed)$/.exec(url.pathname);
  if (req.method === 'POST' && cb) {
    const body = await readBody(req);
    if (!m) return send(403, 'bad token\n');
    emit({ type: 'callback', event: cb[1], step: url.searchParams.get('step'), token, body, at: Date.now() });
    return send(200, 'ok\n');
  }
  if (req.method === 'GET' && url.pathname === '/boot/discovery/agent' && config.agentFile) {
    return send(200, await readFile(config.agentFile, 'utf8'), 'text/x-shellscript');
  }
  if (req.method === 'POST' && url.pathname === '/boot/inventory') {
    const body = await readBody(req);
    if (!m) return send(403, '{"error":"bad token"}', 'application/json');
    emit({ type: 'inventory', token: m.token, contentType: req.headers['content-type'] ?? null, body, at: Date.now() });
    return send(201, '{"ok":true}', 'application/json');
  }
  if (req.method === 'GET' && url.pathname === '/boot/discovery') {
    if (!m) return send(403, '{"error":"bad token"}', 'application/json');
    const n = polls.get(m.token) ?? 0;
    polls.set(m.token, n + 1);
    const actions = m.actions?.length ? m.actions : ['wait'];
    const action = actions[Math.min(n, actions.length - 1)];
    emit({ type: 'poll', token: m.token, action, at: Date.now() });
    return send(200, JSON.stringify({ action }), 'application/json');
  }
  return send(404, 'not found\n');
}

const config = JSON.parse(await readFile(process.argv[2], 'utf8')) as StubConfig;
const server = createServer((req, res) => {
  handle(config, req, res).then(
    (status) => {
      const url = new URL(req.url ?? '/', 'http://stub');
      emit({ type: 'http', method: req.method ?? '', path: url.pathname, query: url.search, status, at: Date.now() });
    },
    (err: Error) => res.writeHead(500).end(String(err.message)),
  );
});
server.listen(config.port, config.host, () => emit({ type: 'listening' }));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
