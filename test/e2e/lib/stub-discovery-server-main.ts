/**
 * A stand-in for kickstand's discovery endpoints, for proving the guest and the inventory agent
 * without kickstand: the boot path of the baseline stub (/boot/ipxe, /boot/assets, /boot/kickstart)
 * plus what the agent calls, GET /boot/discovery/agent (the script), POST /boot/inventory?token=
 * (recorded, answered 201) and GET /boot/discovery?token= (answered from the machine's list of
 * actions, one per poll, the last repeated). One JSON line per request on stdout.
 * Run inside the test's namespace: `stub-discovery-server-main.ts CONFIG`.
 */
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { join, normalize } from 'node:path';

export interface DiscoveryStubMachine {
  mac: string;
  token: string;
  kickstart: string;
  /** Extra kernel arguments (standin.after=poweroff, …). */
  kernelArgs?: string;
  /** Answers to the agent's polls, in order; the last one repeats. Default: always wait. */
  actions?: string[];
}

export interface DiscoveryStubConfig {
  host: string;
  port: number;
  assetsDir: string;
  agentFile: string;
  machines: DiscoveryStubMachine[];
}

export type DiscoveryStubEvent =
  | { type: 'listening' }
  | { type: 'http'; method: string; path: string; query: string; status: number; at: number }
  | { type: 'inventory'; token: string; contentType: string | null; body: string; at: number }
  | { type: 'poll'; token: string; action: string; at: number };

function emit(event: DiscoveryStubEvent): void {
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

function ipxeScript(base: string, m: DiscoveryStubMachine): string {
  return [
    '#!ipxe',
    `kernel ${base}/boot/assets/vmlinuz initrd=initrd.gz console=ttyS0 panic=-1 BOOTIF=01-\${net0/mac:hexhyp} inst.ks=${base}/boot/kickstart?token=${m.token} ${m.kernelArgs ?? ''}`,
    `initrd ${base}/boot/assets/initrd.gz`,
    'boot',
    '',
  ].join('\n');
}

const polls = new Map<string, number>();

async function handle(config: DiscoveryStubConfig, req: IncomingMessage, res: ServerResponse): Promise<number> {
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
  if (req.method === 'GET' && url.pathname === '/boot/discovery/agent') return send(200, await readFile(config.agentFile, 'utf8'), 'text/x-shellscript');
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

const config = JSON.parse(await readFile(process.argv[2], 'utf8')) as DiscoveryStubConfig;
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
