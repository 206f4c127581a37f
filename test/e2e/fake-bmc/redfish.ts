/**
 * A fake Redfish BMC of our own, for the power driver tests and the e2e harness. It is checked
 * against independent clients (redfishtool, python3-sushy) in test/power/fake-bmc-clients.test.ts.
 *
 *   const bmc = await startFakeBmc({
 *     backend,        // memoryBackend('Off') (default) or qmpBackend(vm.qmpSocket) from ./qmp.js
 *     username, password,   // default 'admin' / 's3cret'; Basic auth and sessions both accepted
 *     tls,            // default true: HTTPS with a self-signed cert for 127.0.0.1 made by openssl
 *     certDir,        // where that cert goes (default: a temp dir removed on close)
 *     systemId,       // default '1' → /redfish/v1/Systems/1
 *     resetTypes,     // ResetType@Redfish.AllowableValues (default: all of RESET_TYPES)
 *     hang,           // true: accept connections and never answer (a BMC that times out)
 *     refuseAuth,     // true: refuse every credential with 401 (a BMC that refuses the password)
 *     host, port,     // default 127.0.0.1 and a free port
 *   });
 *   bmc.url          'https://127.0.0.1:PORT', the machine's bmc.address
 *   bmc.fingerprint  sha256 of the certificate ('AA:BB:…') for bmc.tls.fingerprint; bmc.certFile for bmc.tls.ca
 *   bmc.boot         the boot override now: { target, enabled, mode }
 *   bmc.boots        one entry per boot the fake started: { device: 'Pxe' | 'Hdd' | …, mode, override }
 *                    (a 'Once' override is consumed by that boot, as real BMCs do)
 *   bmc.log          in order: { kind: 'patch', boot } | { kind: 'reset', resetType, before } | { kind: 'boot', … }
 *   bmc.requests     { method, path, auth: 'none' | 'basic' | 'session' | 'refused', status }
 *   bmc.openSessions number of sessions not yet deleted
 *   await bmc.close()
 * The same from a shell: `npx tsx test/e2e/fake-bmc/serve.ts --help`.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeTestCert } from './cert.js';

export type RedfishPower = 'On' | 'Off';
export const RESET_TYPES = ['On', 'ForceOn', 'ForceOff', 'ForceRestart', 'GracefulRestart', 'GracefulShutdown', 'PowerCycle'] as const;
export type ResetType = (typeof RESET_TYPES)[number];

/** Where power actually happens: memory for unit tests, QMP for a QEMU VM. */
export interface PowerBackend {
  power(): Promise<RedfishPower>;
  reset(type: ResetType): Promise<void>;
}

export function memoryBackend(initial: RedfishPower = 'Off'): PowerBackend & { state: RedfishPower } {
  const backend = {
    state: initial,
    power: async () => backend.state,
    async reset(type: ResetType) {
      backend.state = type === 'ForceOff' || type === 'GracefulShutdown' ? 'Off' : 'On';
    },
  };
  return backend;
}

export interface FakeBmcOptions {
  backend?: PowerBackend;
  username?: string;
  password?: string;
  tls?: boolean;
  certDir?: string;
  systemId?: string;
  resetTypes?: readonly ResetType[];
  hang?: boolean;
  refuseAuth?: boolean;
  host?: string;
  port?: number;
}

export interface BootOverride {
  target: string;
  enabled: 'Disabled' | 'Once' | 'Continuous';
  mode: 'Legacy' | 'UEFI';
}

export type FakeEvent =
  | { kind: 'patch'; boot: Record<string, unknown> }
  | { kind: 'reset'; resetType: ResetType; before: RedfishPower }
  | { kind: 'boot'; device: string; mode: string; override: string };

export interface RequestRecord {
  method: string;
  path: string;
  auth: 'none' | 'basic' | 'session' | 'refused';
  status: number;
}

interface Answer {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

const TARGETS = ['None', 'Pxe', 'Hdd', 'Cd', 'Usb', 'BiosSetup', 'UefiShell'];
const ENABLED = ['Disabled', 'Once', 'Continuous'];
const MODES = ['Legacy', 'UEFI'];
const BOOTS_FROM_OFF: ResetType[] = ['On', 'ForceOn', 'PowerCycle'];
const BOOTS_FROM_ON: ResetType[] = ['ForceRestart', 'GracefulRestart', 'PowerCycle'];
const ROOT = '/redfish/v1';
const SESSIONS = `${ROOT}/SessionService/Sessions`;
const PUBLIC = new Set(['/redfish', ROOT, `${ROOT}/odata`]);

function redfishError(status: number, id: string, message: string): Answer {
  const code = `Base.1.8.${id}`;
  return { status, body: { error: { code, message, '@Message.ExtendedInfo': [{ MessageId: code, Message: message }] } } };
}

/** The Redfish service without sockets: one request in, one answer out, state and records kept. */
export class FakeRedfish {
  readonly boot: BootOverride = { target: 'None', enabled: 'Disabled', mode: 'UEFI' };
  readonly boots: Extract<FakeEvent, { kind: 'boot' }>[] = [];
  readonly log: FakeEvent[] = [];
  readonly requests: RequestRecord[] = [];
  private readonly sessions = new Map<string, { id: string; user: string }>();
  private nextSession = 1;
  private version = 1;
  private readonly system: string;
  private readonly resetTypes: readonly ResetType[];

  constructor(
    private readonly backend: PowerBackend,
    private readonly opts: { username: string; password: string; systemId: string; refuseAuth: boolean; resetTypes?: readonly ResetType[] },
  ) {
    this.system = `${ROOT}/Systems/${opts.systemId}`;
    this.resetTypes = opts.resetTypes ?? RESET_TYPES;
  }

  get openSessions(): number {
    return this.sessions.size;
  }

  async handle(method: string, rawPath: string, headers: http.IncomingHttpHeaders, body: string): Promise<Answer> {
    const path = rawPath.split('?')[0].replace(/(.)\/+$/, '$1');
    const auth = this.authOf(headers);
    const answer = await this.route(method, path, auth, body, headers).catch((err: Error) => redfishError(500, 'InternalError', err.message));
    this.requests.push({ method, path, auth, status: answer.status });
    return answer;
  }

  private authOf(headers: http.IncomingHttpHeaders): RequestRecord['auth'] {
    const token = headers['x-auth-token'];
    if (typeof token === 'string') return this.sessions.has(token) ? 'session' : 'refused';
    const basic = /^Basic (.+)$/i.exec(headers.authorization ?? '');
    if (!basic) return 'none';
    const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
    return this.credentialsOk(decoded.slice(0, decoded.indexOf(':')), decoded.slice(decoded.indexOf(':') + 1)) ? 'basic' : 'refused';
  }

  private credentialsOk(user: unknown, password: unknown): boolean {
    return !this.opts.refuseAuth && user === this.opts.username && password === this.opts.password;
  }

  private async route(method: string, path: string, auth: RequestRecord['auth'], body: string, headers: http.IncomingHttpHeaders): Promise<Answer> {
    if (method === 'POST' && path === SESSIONS) return this.createSession(body);
    if (!PUBLIC.has(path) && auth !== 'basic' && auth !== 'session')
      return { ...redfishError(401, 'NoValidSession', 'authentication required'), headers: { 'WWW-Authenticate': 'Basic realm="fake-bmc"' } };
    let json: Record<string, unknown> = {};
    try {
      if (method === 'PATCH' || method === 'POST') json = JSON.parse(body || '{}');
    } catch {
      return redfishError(400, 'MalformedJSON', 'the request body is not JSON');
    }
    const key = `${method} ${path}`;
    switch (key) {
      case 'GET /redfish':
        return { status: 200, body: { v1: `${ROOT}/` } };
      case `GET ${ROOT}`:
        return { status: 200, body: this.serviceRoot() };
      case `GET ${ROOT}/odata`:
        return { status: 200, body: { value: [{ name: 'Systems', kind: 'Singleton', url: `${ROOT}/Systems` }] } };
      case `GET ${ROOT}/Systems`:
        return { status: 200, body: this.collection('#ComputerSystemCollection.ComputerSystemCollection', `${ROOT}/Systems`, [this.system]) };
      case `GET ${ROOT}/SessionService`:
        return { status: 200, body: { '@odata.id': `${ROOT}/SessionService`, '@odata.type': '#SessionService.v1_1_8.SessionService', Id: 'SessionService', Name: 'Session Service', ServiceEnabled: true, SessionTimeout: 600, Sessions: { '@odata.id': SESSIONS } } };
      case `GET ${SESSIONS}`:
        return { status: 200, body: this.collection('#SessionCollection.SessionCollection', SESSIONS, [...this.sessions.values()].map((s) => `${SESSIONS}/${s.id}`)) };
      case `GET ${this.system}`:
        return { status: 200, body: await this.systemJson(), headers: { ETag: this.etag() } };
      case `PATCH ${this.system}`:
        return this.patchSystem(json, headers);
      case `POST ${this.system}/Actions/ComputerSystem.Reset`:
        return this.reset(json);
    }
    const session = path.startsWith(`${SESSIONS}/`) ? [...this.sessions.entries()].find(([, s]) => `${SESSIONS}/${s.id}` === path) : undefined;
    if (session && method === 'GET') return { status: 200, body: { '@odata.id': path, '@odata.type': '#Session.v1_3_0.Session', Id: session[1].id, Name: 'User Session', UserName: session[1].user } };
    if (session && method === 'DELETE') {
      this.sessions.delete(session[0]);
      return { status: 204 };
    }
    return redfishError(404, 'ResourceMissingAtURI', `no resource at ${path}`);
  }

  private ifMatchFails(headers: http.IncomingHttpHeaders): boolean {
    const want = headers['if-match'];
    return typeof want === 'string' && want !== '*' && want !== this.etag();
  }

  private etag(): string {
    return `W/"${this.version}"`;
  }

  private serviceRoot() {
    return {
      '@odata.id': `${ROOT}/`,
      '@odata.type': '#ServiceRoot.v1_5_0.ServiceRoot',
      Id: 'RootService',
      Name: 'Fake BMC',
      RedfishVersion: '1.6.0',
      UUID: '92384634-2938-2342-8820-489239905423',
      Systems: { '@odata.id': `${ROOT}/Systems` },
      SessionService: { '@odata.id': `${ROOT}/SessionService` },
      Links: { Sessions: { '@odata.id': SESSIONS } },
    };
  }

  private collection(type: string, id: string, members: string[]) {
    return { '@odata.id': id, '@odata.type': type, Name: 'Collection', Members: members.map((m) => ({ '@odata.id': m })), 'Members@odata.count': members.length };
  }

  private async systemJson() {
    return {
      '@odata.id': this.system,
      '@odata.type': '#ComputerSystem.v1_10_0.ComputerSystem',
      '@odata.etag': this.etag(),
      Id: this.opts.systemId,
      Name: 'Fake system',
      SystemType: 'Physical',
      Manufacturer: 'kickstand',
      Model: 'fake-bmc',
      PowerState: await this.backend.power(),
      Status: { State: 'Enabled', Health: 'OK' },
      Boot: {
        BootSourceOverrideTarget: this.boot.target,
        BootSourceOverrideEnabled: this.boot.enabled,
        BootSourceOverrideMode: this.boot.mode,
        'BootSourceOverrideTarget@Redfish.AllowableValues': TARGETS,
        'BootSourceOverrideMode@Redfish.AllowableValues': MODES,
      },
      Actions: {
        '#ComputerSystem.Reset': { target: `${this.system}/Actions/ComputerSystem.Reset`, 'ResetType@Redfish.AllowableValues': this.resetTypes },
      },
    };
  }

  private createSession(body: string): Answer {
    let creds: { UserName?: unknown; Password?: unknown };
    try {
      creds = JSON.parse(body);
    } catch {
      return redfishError(400, 'MalformedJSON', 'the request body is not JSON');
    }
    if (!this.credentialsOk(creds.UserName, creds.Password)) return redfishError(401, 'NoValidSession', 'invalid user name or password');
    const id = String(this.nextSession++);
    const token = randomBytes(16).toString('hex');
    this.sessions.set(token, { id, user: String(creds.UserName) });
    const location = `${SESSIONS}/${id}`;
    return {
      status: 201,
      headers: { 'X-Auth-Token': token, Location: location },
      body: { '@odata.id': location, '@odata.type': '#Session.v1_3_0.Session', Id: id, Name: 'User Session', UserName: creds.UserName },
    };
  }

  private async patchSystem(body: Record<string, unknown>, headers: http.IncomingHttpHeaders): Promise<Answer> {
    if (this.ifMatchFails(headers)) return redfishError(412, 'PreconditionFailed', 'ETag does not match');
    for (const k of Object.keys(body)) if (k !== 'Boot') return redfishError(400, 'PropertyUnknown', `property ${k} is unknown or not writable`);
    const boot = (body.Boot ?? {}) as Record<string, unknown>;
    const lists: Record<string, string[]> = { BootSourceOverrideTarget: TARGETS, BootSourceOverrideEnabled: ENABLED, BootSourceOverrideMode: MODES };
    for (const [k, v] of Object.entries(boot)) {
      if (!lists[k]) return redfishError(400, 'PropertyUnknown', `property Boot/${k} is unknown or not writable`);
      if (typeof v !== 'string' || !lists[k].includes(v)) return redfishError(400, 'PropertyValueNotInList', `${JSON.stringify(v)} is not an allowed value of Boot/${k}`);
    }
    this.log.push({ kind: 'patch', boot });
    if (boot.BootSourceOverrideTarget) this.boot.target = boot.BootSourceOverrideTarget as string;
    if (boot.BootSourceOverrideEnabled) this.boot.enabled = boot.BootSourceOverrideEnabled as BootOverride['enabled'];
    if (boot.BootSourceOverrideMode) this.boot.mode = boot.BootSourceOverrideMode as BootOverride['mode'];
    this.version++;
    return { status: 200, body: await this.systemJson(), headers: { ETag: this.etag() } };
  }

  private async reset(body: Record<string, unknown>): Promise<Answer> {
    const type = body.ResetType as ResetType;
    if (!this.resetTypes.includes(type)) return redfishError(400, 'ActionParameterValueNotInList', `ResetType ${JSON.stringify(type)} is not allowed`);
    const before = await this.backend.power();
    this.log.push({ kind: 'reset', resetType: type, before });
    if (before === 'Off' && (type === 'ForceRestart' || type === 'GracefulRestart')) return redfishError(409, 'ActionNotSupported', `cannot ${type}: the system is powered off`);
    // Real BMCs treat On-when-on and Off-when-off as no-ops; the VM behind QMP must not be reset by them.
    if ((before === 'On' && (type === 'On' || type === 'ForceOn')) || (before === 'Off' && (type === 'ForceOff' || type === 'GracefulShutdown'))) return { status: 204 };
    await this.backend.reset(type);
    if ((before === 'Off' ? BOOTS_FROM_OFF : BOOTS_FROM_ON).includes(type)) this.bootStarts();
    this.version++;
    return { status: 204 };
  }

  private bootStarts(): void {
    const overridden = this.boot.enabled !== 'Disabled' && this.boot.target !== 'None';
    const event = { kind: 'boot' as const, device: overridden ? this.boot.target : 'Hdd', mode: this.boot.mode, override: this.boot.enabled };
    this.boots.push(event);
    this.log.push(event);
    if (this.boot.enabled === 'Once') {
      this.boot.enabled = 'Disabled';
      this.boot.target = 'None';
    }
  }
}

export interface FakeBmc {
  url: string;
  port: number;
  fingerprint?: string;
  certFile?: string;
  readonly boot: BootOverride;
  readonly boots: FakeRedfish['boots'];
  readonly log: FakeEvent[];
  readonly requests: RequestRecord[];
  readonly openSessions: number;
  close(): Promise<void>;
}

export async function startFakeBmc(opts: FakeBmcOptions = {}): Promise<FakeBmc> {
  const service = new FakeRedfish(opts.backend ?? memoryBackend('Off'), {
    username: opts.username ?? 'admin',
    password: opts.password ?? 's3cret',
    systemId: opts.systemId ?? '1',
    refuseAuth: opts.refuseAuth ?? false,
    resetTypes: opts.resetTypes,
  });
  const secure = opts.tls ?? true;
  const ownDir = secure && !opts.certDir ? await mkdtemp(join(tmpdir(), 'fake-bmc-')) : undefined;
  const cert = secure ? await makeTestCert(opts.certDir ?? ownDir!) : undefined;

  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (opts.hang) return;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const answer = await service.handle(req.method ?? 'GET', req.url ?? '/', req.headers, Buffer.concat(chunks).toString('utf8'));
      const payload = answer.body === undefined ? undefined : JSON.stringify(answer.body);
      res.writeHead(answer.status, { 'OData-Version': '4.0', ...(payload ? { 'Content-Type': 'application/json' } : {}), ...answer.headers });
      res.end(payload);
    });
  };
  const server = cert ? https.createServer({ cert: cert.cert, key: cert.key }, onRequest) : http.createServer(onRequest);
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', resolve);
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `${secure ? 'https' : 'http'}://${opts.host ?? '127.0.0.1'}:${port}`,
    port,
    fingerprint: cert?.fingerprint,
    certFile: cert?.certFile,
    boot: service.boot,
    boots: service.boots,
    log: service.log,
    requests: service.requests,
    get openSessions() {
      return service.openSessions;
    },
    async close() {
      for (const s of sockets) s.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (ownDir) await rm(ownDir, { recursive: true, force: true });
    },
  };
}
