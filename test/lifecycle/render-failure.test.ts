import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { Config } from '../../server/config/schema.js';
import { createRenderers } from '../../server/render/renderers.js';
import { startTestService } from '../helpers/service.js';

t.test('a machine whose kickstart cannot render gets an error script and fails, visibly', async (t) => {
  const templates = mkdtempSync(join(tmpdir(), 'ks-tpl-'));
  mkdirSync(join(templates, 'kickstart'));
  // An operator override with a reference the strict environment refuses.
  writeFileSync(join(templates, 'kickstart', 'rocky-9.ks.hbs'), 'text\n{{machine.nosuchfield.deeper}}\n');
  const config = Config.parse({ templatesDir: templates });
  const { api, base, svc } = await startTestService(t, {
    inventory: 'machines',
    config: { templatesDir: templates },
    service: { renderers: (key) => createRenderers(config, key) },
  });
  await api('PUT', '/api/v1/machines/util-01', { name: 'util-01', profile: 'small-bios', macs: ['52:54:00:ab:cd:01'] });
  t.equal((await api('POST', '/api/v1/machines/util-01/reinstall')).status, 202);
  await svc.lifecycle.idle();
  const res = await fetch(`${base}/boot/ipxe?mac=52:54:00:ab:cd:01`);
  t.equal(res.status, 200, 'the machine still gets a script: never silence');
  const script = await res.text();
  t.match(script, /^#!ipxe/);
  t.notMatch(script, /inst\.ks=/, 'no installer is started');
  t.match(script, /rocky-9\.ks/, 'the script names the template that failed');
  await svc.lifecycle.idle();
  const p = (await api('GET', '/api/v1/machines/util-01/progress')).json;
  t.equal(p.state, 'failed');
  t.ok(p.events.some((e: { kind: string; level: string }) => e.kind === 'render' && e.level === 'error'), 'a render error event');
  const preview = await api('GET', '/api/v1/machines/util-01/render/kickstart');
  t.equal(preview.status, 422, 'the preview shows the same error to the operator');
  t.match(preview.json.message, /rocky-9\.ks/);
});
