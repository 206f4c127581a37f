import type { FastifyPluginAsync } from 'fastify';
import type { AppDeps } from '../deps.js';
import { sendFile, underRoot } from '../send-file.js';

/** Boot assets (kernel, initrd, rootfs) and iPXE binaries for UEFI HTTP boot, with Range. */
export const fileRoutes: FastifyPluginAsync<AppDeps> = async (app, deps) => {
  const { config, events } = deps;
  // Firmware fetched over HTTP (UEFI HTTP boot) is still PXE booting; only /assets means the installer is coming.
  const serve = (prefix: string, root: string, kind: 'asset' | 'ipxe-script') =>
    app.get(`${prefix}/*`, { schema: { hide: true } }, async (req, reply) => {
      const rel = (req.params as { '*': string })['*'];
      const file = underRoot(root, decodeURIComponent(rel));
      const sent = file && (await sendFile(req, reply, file));
      if (sent === undefined || !file) return reply.code(404).type('text/plain').send(`no such file: ${rel}\n`);
      events.report({ ...(await deps.reads.machineAt(req.ip)), ip: req.ip, kind, level: 'info', message: `${prefix.slice(1)} ${rel} (${sent} bytes${req.headers.range ? `, range ${req.headers.range}` : ''})`, data: { file: rel } });
      return reply;
    });
  serve('/assets', config.assets.dir, 'asset');
  serve('/firmware', config.tftp.root, 'ipxe-script');
};
