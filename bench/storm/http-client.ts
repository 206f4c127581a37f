/**
 * One HTTP request from a simulated machine's leased address (a connection of its own, as iPXE
 * and the installer's curl open them). Bodies are counted, kept only when asked for (scripts and
 * kickstarts are parsed; kernel bytes are not).
 */
import http from 'node:http';

export interface HttpAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  bytes: number;
  text?: string;
}

const TIMEOUT_MS = 30_000;

export function request(
  method: 'GET' | 'HEAD' | 'POST',
  url: string,
  opts: { local: string; headers?: Record<string, string>; body?: string; keep?: boolean },
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, localAddress: opts.local, agent: false, headers: opts.headers, timeout: TIMEOUT_MS }, (res) => {
      let bytes = 0;
      const chunks: Buffer[] = [];
      // A refusal's body says why: kept (its start) for the error message.
      const keep = opts.keep || (res.statusCode ?? 0) >= 400;
      res.on('data', (c: Buffer) => {
        bytes += c.length;
        if (keep && (opts.keep || bytes <= 1024)) chunks.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, bytes, text: keep ? Buffer.concat(chunks).toString('utf8') : undefined }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url}: no answer in ${TIMEOUT_MS / 1000} s`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** request, and an Error unless the status is one of `ok`. */
export async function expect(ok: number[], method: 'GET' | 'HEAD' | 'POST', url: string, opts: Parameters<typeof request>[2]): Promise<HttpAnswer> {
  const a = await request(method, url, opts);
  if (!ok.includes(a.status)) throw new Error(`${method} ${url.replace(/token=[^&]+/, 'token=…')}: HTTP ${a.status} ${(a.text ?? '').slice(0, 300).trim()}`);
  return a;
}
