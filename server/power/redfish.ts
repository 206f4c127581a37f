/**
 * Redfish power driver: each call logs in (a session, or Basic auth), finds the computer system,
 * acts, and logs out. One-time PXE is a PATCH of the system's Boot override; the reset type is
 * chosen from the system's power state and the reset types it allows.
 */
import type { Machine } from '../model/machine.js';
import type { EventSink } from '../model/events.js';
import { powerCall } from './call.js';
import { bmcPassword, bmcUsername, readSecretFile } from './credentials.js';
import { bmcAddressProblem } from '../model/machine.js';
import type { Firmware } from '../model/boot.js';
import type { PowerDriver } from './driver.js';
import { PowerError } from './errors.js';
import { sendRedfish, type Reply, type Request, type TlsPolicy } from './redfish-http.js';
import {
  chooseReset,
  cycleIntent,
  pickSystem,
  powerState,
  pxeOnceBody,
  redfishMessage,
  resetAction,
  serviceLinks,
  type ResetIntent,
} from './redfish-protocol.js';

export type RedfishAuth = 'session' | 'basic';

interface System {
  path: string;
  json: unknown;
  etag?: string;
}

/** One logged-in conversation with the BMC, bounded by the call's signal. */
class Conversation {
  private headers: Record<string, string> = {};
  private sessionUri?: string;
  systemsPath = '/redfish/v1/Systems';

  constructor(
    private readonly base: URL,
    private readonly policy: TlsPolicy,
    private readonly user: string,
    private readonly signal: AbortSignal,
  ) {}

  async open(password: string, auth: RedfishAuth): Promise<void> {
    const root = await this.send({ method: 'GET', path: '/redfish/v1/' });
    const links = serviceLinks(root.json);
    this.systemsPath = links.systems;
    if (auth === 'basic') {
      this.headers = { Authorization: `Basic ${Buffer.from(`${this.user}:${password}`).toString('base64')}` };
      return;
    }
    const created = await this.send({ method: 'POST', path: links.sessions, body: { UserName: this.user, Password: password } });
    const token = created.headers['x-auth-token'];
    if (typeof token !== 'string' || !token) throw new PowerError('unexpected', 'the BMC created a session but sent no X-Auth-Token');
    this.headers = { 'X-Auth-Token': token };
    const location = created.headers.location;
    const id = (created.json as { '@odata.id'?: unknown } | undefined)?.['@odata.id'];
    this.sessionUri = typeof location === 'string' ? location : typeof id === 'string' ? id : undefined;
  }

  /** Session slots on a BMC are few: give ours back, but never let logout turn success into failure. */
  async close(): Promise<void> {
    if (!this.sessionUri || this.signal.aborted) return;
    await this.send({ method: 'DELETE', path: this.sessionUri }).catch(() => undefined);
  }

  async send(req: Request): Promise<Reply> {
    const reply = await sendRedfish(this.base, this.policy, { ...req, headers: { ...this.headers, ...req.headers } }, this.signal);
    if (reply.status >= 200 && reply.status < 300) return reply;
    throw statusError(reply, req, this.user);
  }

  async system(systemId: string | undefined): Promise<System> {
    const collection = await this.send({ method: 'GET', path: this.systemsPath });
    const path = pickSystem(collection.json, systemId);
    const reply = await this.send({ method: 'GET', path });
    const etag = reply.headers.etag ?? (reply.json as { '@odata.etag'?: string } | undefined)?.['@odata.etag'];
    return { path, json: reply.json, etag: typeof etag === 'string' ? etag : undefined };
  }
}

function statusError(reply: Reply, req: Request, user: string): PowerError {
  const said = redfishMessage(reply.json);
  if (reply.status === 401)
    return new PowerError('auth', `authentication refused (HTTP 401) for user "${user}": check bmc.username and bmc.password / bmc.passwordFile`, 401);
  if (reply.status === 403)
    return new PowerError('auth', `user "${user}" may not ${req.method} ${req.path} (HTTP 403): the account needs power control rights${said ? ` (${said})` : ''}`, 403);
  return new PowerError('unexpected', `${req.method} ${req.path} answered HTTP ${reply.status}${said ? `: ${said}` : ''}`, reply.status);
}

/** The CA file is held to the secrets directories like the password file: its contents decide whom the password goes to. */
async function tlsPolicy(tls: Machine['bmc']['tls'], machineName: string, secretDirs: readonly string[]): Promise<TlsPolicy> {
  if (!tls.ca) return { verify: tls.verify, fingerprint: tls.fingerprint };
  return { verify: tls.verify, fingerprint: tls.fingerprint, ca: await readSecretFile(tls.ca, 'bmc.tls.ca', secretDirs, machineName) };
}

export function redfishDriver(machine: Machine, sink: EventSink, auth: RedfishAuth, secretDirs: readonly string[]): PowerDriver {
  const bmc = machine.bmc;
  if (!bmc.address) throw new PowerError('config', `${machine.name}: power driver redfish needs bmc.address`);
  // Asked again here for machines stored before the schema refused it: no credentials over plain http unless allowed.
  const addressProblem = bmcAddressProblem(bmc);
  if (addressProblem) throw new PowerError('config', `${machine.name}: bmc.address: ${addressProblem}`);
  const base = new URL(bmc.address);

  const run = <T>(what: string, work: (conv: Conversation) => Promise<T>) =>
    powerCall(
      { context: `${machine.name}: Redfish ${what} at ${base.origin}`, seconds: bmc.timeoutSeconds, secret: () => bmcPassword(bmc, machine.name, secretDirs) },
      async (signal, password) => {
        const conv = new Conversation(base, await tlsPolicy(bmc.tls, machine.name, secretDirs), bmcUsername(bmc, machine.name), signal);
        await conv.open(password, auth);
        try {
          return await work(conv);
        } finally {
          await conv.close();
        }
      },
    );

  const reset = async (conv: Conversation, system: System, intent: ResetIntent) => {
    const action = resetAction(system.json, system.path);
    const resetType = chooseReset(intent, action.allowed);
    await conv.send({ method: 'POST', path: action.target, body: { ResetType: resetType } });
    sink.report({ machine: machine.name, kind: 'power', level: 'info', message: `Redfish reset ${resetType} accepted`, data: { driver: 'redfish', resetType } });
  };

  return {
    status: () => run('power status', async (conv) => powerState((await conv.system(bmc.systemId)).json)),
    on: () => run('power on', async (conv) => reset(conv, await conv.system(bmc.systemId), 'on')),
    off: () => run('power off', async (conv) => reset(conv, await conv.system(bmc.systemId), 'off')),
    cycle: () =>
      run('power cycle', async (conv) => {
        const system = await conv.system(bmc.systemId);
        await reset(conv, system, cycleIntent(powerState(system.json)));
      }),
    bootOnceToPxe: (firmware: Firmware) =>
      run('one-time PXE boot', async (conv) => {
        const system = await conv.system(bmc.systemId);
        const body = pxeOnceBody(system.json, firmware);
        await conv.send({ method: 'PATCH', path: system.path, body, headers: system.etag ? { 'If-Match': system.etag } : {} });
        sink.report({ machine: machine.name, kind: 'power', level: 'info', message: `Redfish boot override set: next boot from Pxe, once (${firmware})`, data: { driver: 'redfish', ...body.Boot } });
      }),
  };
}
