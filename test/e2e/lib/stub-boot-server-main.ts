/**
 * The HTTP side of the dnsmasq baseline: a plain node server speaking the machine-side contract
 * (/boot/ipxe, /boot/assets, /boot/kickstart, /boot/callback) so the installer stand-in and the
 * timings are exercised exactly as against kickstand. It prints one JSON line per request and per
 * callback for the test to read. Run inside the test's namespace: `stub-boot-server-main.ts CONFIG`.
 */
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { join, normalize } from 'node:path';

export interface StubMachine {
  mac: string;
  token: string;
  kickstart: string;
  /** Extra kernel arguments for this machine's install (e.g. standin.mode=kickstart). */
  kernelArgs?: string;
}

export interface StubConfig {
  host: string;
  port: number;
  assetsDir: string;
  machines: StubMachine[];
}

export type StubEvent =
  | { type: 'listening' }
  | { type: 'http'; method: string; path: string; query: string; status: number; at: number }
  | { type: 'callback'; event: string; step: string | null; token: string | null; body: string; at: number };

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

function ipxeScript(base: string, m: StubMachine): string {
  return [
    '#!ipxe',
    'echo kickstand-e2e stub: ${net0/mac} on ${platform}',
    `kernel ${base}/boot/assets/vmlinuz initrd=initrd.gz console=ttyS0 panic=-1 inst.ks=${base}/boot/kickstart?token=${m.token} ${m.kernelArgs ?? ''}`,
    `initrd ${base}/boot/assets/initrd.gz`,
    'boot',
    '',
  ].join('\n');
}

async function handle(config: StubConfig, req: IncomingMessage, res: ServerResponse): Promise<number> {
  const url = new URL(req.url ?? '/', 'http://stub');
  const base = `http://${config.host}:${config.port}`;
  const send = (status: number, body: string): number => {
    res.writeHead(status, { 'content-type': 'text/plain' }).end(body);
    return status;
  };
  const byToken = (token: string | null) => config.machines.find((m) => m.token === token);
  if (req.method === 'GET' && url.pathname === '/boot/ipxe') {
    const m = config.machines.find((x) => x.mac === url.searchParams.get('mac'));
    return m ? send(200, ipxeScript(base, m)) : send(404, 'unknown machine\n');
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
  if (req.method === 'GET' && url.pathname === '/boot/kickstart') {
    const m = byToken(url.searchParams.get('token'));
    return m ? send(200, m.kickstart) : send(403, 'bad token\n');
  }
  const cb = /^\/boot\/callback\/(start|progress|hostkeys|built|failed)$/.exec(url.pathname);
  if (req.method === 'POST' && cb) {
    const body = await readBody(req);
    const token = url.searchParams.get('token');
    if (!byToken(token)) return send(403, 'bad token\n');
    emit({ type: 'callback', event: cb[1], step: url.searchParams.get('step'), token, body, at: Date.now() });
    return send(200, 'ok\n');
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
