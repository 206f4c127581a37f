import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { Test } from 'tap';
import { Config, type ConfigInput } from '../../server/config/schema.js';
import type { Renderers } from '../../server/model/renderers.js';
import { createLogger } from '../../server/log.js';
import { startService, type ServiceOptions } from '../../server/main.js';

/** Renderers that echo their inputs: for tests of routes and lifecycle, not of rendering. */
export const echoRenderers: Renderers = {
  ipxe: (kind, i) => `#!ipxe\n# ${kind} ${i.mac}${i.token ? ` token=${i.token}` : ''}${i.error ? ` error=${i.error}` : ''}\n`,
  grub: (kind, i) => `# grub ${kind} ${i.mac}${i.token ? ` token=${i.token}` : ''}${i.error ? ` error=${i.error}` : ''}\n`,
  grubLookup: () => '# grub lookup\n',
  config: (kind, i) => `# ${kind} for ${i.machine.name} (${i.profile.name}) token=${i.token}\n`,
  discoveryKickstart: (i) => `# discovery kickstart token=${i.token}\n`,
  agent: () => '#!/bin/sh\n# agent\n',
};

/** Captures every log line the service writes, so tests can assert what never appears. */
export function logCapture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      cb();
    },
  });
  return { lines, destination };
}

export async function startTestService(
  t: Test,
  opts: { config?: ConfigInput; inventory?: string; dataDir?: string; service?: Partial<ServiceOptions> } = {},
) {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'ks-test-'));
  const config = Config.parse({
    dataDir,
    inventory: opts.inventory ?? join(dataDir, 'no-inventory'),
    http: { host: '127.0.0.1', port: 0 },
    tftp: { enabled: false },
    api: { token: 'test-token-0123456789abcdef' },
    ...opts.config,
  });
  const logs = logCapture();
  const logger = createLogger({ level: 'debug', destination: logs.destination });
  const svc = await startService(config, logger, { renderers: () => echoRenderers, lint: {}, ...opts.service });
  t.teardown(async () => {
    await svc.close();
    if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
  });
  const base = `http://127.0.0.1:${svc.port}`;
  const api = async (method: string, path: string, body?: unknown, token: string | null = config.api.token!) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let json: any;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, json, text, headers: res.headers };
  };
  return { svc, config, base, api, logs, dataDir };
}
