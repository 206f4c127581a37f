/**
 * The socket side of the Redfish driver: one JSON request to the BMC, with its TLS policy.
 * Connections are made by hand (not through an agent) so that the certificate check, pinning
 * included, is finished before a single byte of the request — which carries the credentials —
 * is written.
 */
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { PowerError } from './errors.js';

export interface TlsPolicy {
  verify: boolean;
  /** PEM text of the CA(s) that may sign the BMC certificate. */
  ca?: string;
  /** sha256 of the BMC's own certificate; when set it alone decides. */
  fingerprint?: string;
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  json: unknown;
}

export interface Request {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  path: string;
  headers?: Record<string, string>;
  body?: unknown;
}

const MAX_BODY = 1 << 20;

const normalizeFingerprint = (fp: string) => fp.replace(/:/g, '').toUpperCase();

export function sendRedfish(base: URL, policy: TlsPolicy, req: Request, signal: AbortSignal): Promise<Reply> {
  const url = new URL(req.path, base);
  // @odata.id links come from the BMC: never follow one to another origin with our credentials.
  if (url.origin !== base.origin) return Promise.reject(new PowerError('unexpected', `the BMC pointed to ${url.origin}, outside its own address`));
  const payload = req.body === undefined ? undefined : Buffer.from(JSON.stringify(req.body));
  const headers: Record<string, string> = { Host: url.host, Accept: 'application/json', 'OData-Version': '4.0', ...req.headers };
  if (payload) {
    headers['Content-Type'] = 'application/json';
    headers['Content-Length'] = String(payload.length);
  }
  return new Promise<Reply>((resolve, reject) => {
    const fail = (err: unknown) => reject(classify(err, signal));
    const request = http.request({
      method: req.method,
      path: url.pathname + url.search,
      headers,
      signal,
      createConnection: (_opts, done) => {
        connect(url, policy, signal, done);
        return undefined;
      },
    });
    request.on('error', fail);
    request.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BODY) request.destroy(new PowerError('unexpected', `the BMC sent more than ${MAX_BODY} bytes for ${req.method} ${url.pathname}`));
        else chunks.push(c);
      });
      res.on('error', fail);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = text ? JSON.parse(text) : undefined;
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, json });
      });
    });
    request.end(payload);
  });
}

function connect(url: URL, policy: TlsPolicy, signal: AbortSignal, done: (err: Error | null, socket: Duplex) => void): void {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const secure = url.protocol === 'https:';
  const port = Number(url.port) || (secure ? 443 : 80);
  const socket = secure
    ? tls.connect({
        host,
        port,
        servername: net.isIP(host) ? undefined : host,
        ca: policy.ca,
        rejectUnauthorized: policy.verify && !policy.fingerprint,
      })
    : net.connect({ host, port });
  const abort = () => socket.destroy();
  signal.addEventListener('abort', abort, { once: true });
  socket.once('close', () => signal.removeEventListener('abort', abort));
  socket.once('error', (err) => done(err, socket));
  socket.once(secure ? 'secureConnect' : 'connect', () => {
    if (secure && policy.fingerprint) {
      const seen = (socket as tls.TLSSocket).getPeerCertificate().fingerprint256 ?? '';
      if (normalizeFingerprint(seen) !== normalizeFingerprint(policy.fingerprint)) {
        socket.destroy();
        done(new PowerError('tls', `TLS verification failed: the BMC certificate has sha256 fingerprint ${seen}, not the pinned bmc.tls.fingerprint`), socket);
        return;
      }
    }
    done(null, socket);
  });
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT']);

function classify(err: unknown, signal: AbortSignal): PowerError {
  if (signal.aborted && signal.reason instanceof PowerError) return signal.reason;
  if (err instanceof PowerError) return err;
  const e = err as NodeJS.ErrnoException & { library?: string; reason?: string };
  const code = e.code ?? '';
  if (/CERT|SELF_SIGNED|ERR_TLS_|ERR_SSL_|UNABLE_TO_/.test(code) || e.library === 'SSL routines')
    return new PowerError(
      'tls',
      `TLS verification failed (${code || e.reason || 'handshake'}): the BMC certificate is not trusted; give bmc.tls.ca (PEM of its CA) or bmc.tls.fingerprint (sha256 of its certificate), or set bmc.tls.verify: false`,
    );
  if (UNREACHABLE.has(code)) return new PowerError('unreachable', `cannot reach the BMC (${code}); check bmc.address and the network path to the BMC`);
  return new PowerError('unexpected', `request to the BMC failed: ${e.message}`);
}
