import type { FastifyPluginAsync } from 'fastify';
import { openConfined } from '../../files/confine.js';
import { safeRelativePath } from '../../files/path.js';
import { RateLimiter } from '../../model/rate-limit.js';
import type { AppDeps } from '../deps.js';
import { sendFile } from '../send-file.js';

/**
 * Boot assets (kernel, initrd, rootfs) and iPXE binaries for UEFI HTTP boot, with Range.
 *
 * The same rules as TFTP, from the same code: the name (decoded once, by the router) goes
 * through safeRelativePath (no `..`, no control characters, no %XX left after decoding, i.e. no
 * double encoding), then openConfined: every symlink is followed and the real file must lie
 * inside the served directory, or, for /firmware only, inside tftp.symlinkDirs (Debian's
 * /usr/lib/ipxe/ipxe.efi → /boot). A bad name is a 400, anything not servable a 404 (a file
 * outside the root is not told apart from a missing one), never a 500.
 */
export const fileRoutes: FastifyPluginAsync<AppDeps> = async (app, deps) => {
  const { config, events } = deps;
  /** Refusal events per client address: enough to see an attack, too few to flood the event log. */
  const noisy = new RateLimiter(20, 10_000);
  // Firmware fetched over HTTP (UEFI HTTP boot) is still PXE booting; only /assets means the installer is coming.
  const serve = (prefix: string, root: string, symlinkDirs: readonly string[], kind: 'asset' | 'ipxe-script') =>
    app.get(`${prefix}/*`, { schema: { hide: true } }, async (req, reply) => {
      const requested = (req.params as { '*': string })['*'];
      const shown = JSON.stringify(requested.slice(0, 128));
      const refuse = async (status: number, text: string, why: string) => {
        req.log.info({ file: requested.slice(0, 256), why }, `${prefix.slice(1)} refused`);
        if (why !== 'missing' && noisy.allow(req.ip, Date.now()))
          events.report({ ...(await deps.reads.machineAt(req.ip)), ip: req.ip, kind, level: 'warn', message: `${prefix.slice(1)} ${shown} refused: ${why}`, data: { file: requested.slice(0, 128), why } });
        return reply.code(status).type('text/plain').send(text);
      };
      const safe = safeRelativePath(requested);
      if (!safe.ok) return refuse(400, `bad file name: ${safe.reason}\n`, safe.reason);
      const opened = await openConfined(root, safe.path, symlinkDirs);
      if (!opened.ok) {
        if (opened.why === 'error') req.log.error({ file: safe.path, code: opened.code }, `${prefix.slice(1)}: cannot read file`);
        return refuse(404, `no such file: ${safe.path.replace(/[^\x20-\x7e]/g, '?')}\n`, opened.why === 'outside' ? 'resolves outside the served directory' : opened.why);
      }
      const sent = await sendFile(req, reply, opened);
      events.report({ ...(await deps.reads.machineAt(req.ip)), ip: req.ip, kind, level: 'info', message: `${prefix.slice(1)} ${safe.path} (${sent} bytes${req.headers.range ? `, range ${req.headers.range}` : ''})`, data: { file: safe.path } });
      return reply;
    });
  serve('/assets', config.assets.dir, [], 'asset');
  serve('/firmware', config.tftp.root, config.tftp.symlinkDirs, 'ipxe-script');
};
