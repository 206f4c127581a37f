import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyReply } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { isApiToken } from '../auth.js';
import type { AppDeps } from '../deps.js';
import { cookieValue, CSRF_HEADER, SESSION_COOKIE, sessionCookie, type Sessions } from '../session.js';

const PAGES = fileURLToPath(new URL('../ui/', import.meta.url));
/** The browser's copies of preact, its hooks and htm: the ES modules their packages ship, as they are. */
const VENDOR: Record<string, string> = { 'preact.js': 'preact', 'hooks.js': 'preact/hooks', 'htm.js': 'htm' };
const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' };

interface Served {
  body: Buffer;
  type: string;
  etag: string;
}

const served = (body: Buffer, name: string): Served => ({ body, type: TYPES[extname(name)], etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` });

/** The console's files, read once: its own pages and the vendored modules. */
async function loadFiles(): Promise<Map<string, Served>> {
  const files = new Map<string, Served>();
  for (const name of await readdir(PAGES)) if (TYPES[extname(name)]) files.set(name, served(await readFile(join(PAGES, name)), name));
  for (const [name, specifier] of Object.entries(VENDOR)) files.set(`vendor/${name}`, served(await readFile(fileURLToPath(import.meta.resolve(specifier))), name));
  return files;
}

/**
 * Scripts only from here, and the import map inline in index.html by its hash: an event message
 * or a log tail that slipped through as markup still could not run.
 */
function contentSecurityPolicy(index: string): string {
  const importMap = /<script type="importmap">([\s\S]*?)<\/script>/.exec(index)?.[1] ?? '';
  const hash = createHash('sha256').update(importMap).digest('base64');
  return `default-src 'self'; script-src 'self' 'sha256-${hash}'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'`;
}

const SignIn = z.object({ token: z.string().min(1).max(4096) });

/**
 * The web console at /ui/: static pages that use nothing but /api/v1, signed in by the session
 * cookie instead of a bearer token (auth.ts). Here: the pages, and the session (sign in with the
 * API token, the CSRF token for the page, sign out).
 */
export const uiRoutes: FastifyPluginAsyncZod<AppDeps & { sessions: Sessions }> = async (app, { apiToken, sessions }) => {
  const files = await loadFiles();
  const csp = contentSecurityPolicy(files.get('index.html')!.body.toString());
  const isToken = isApiToken(apiToken);
  const hide = { hide: true };

  // The sign-in form posts as a browser form does, with no script too.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 8192 }, (_req, body, done) =>
    done(null, Object.fromEntries(new URLSearchParams(body as string))),
  );

  /** A console file, revalidated by its ETag on every load: an upgrade shows at once. */
  const send = (reply: FastifyReply, file: string, ifNoneMatch: string | undefined) => {
    const f = files.get(file);
    if (!f) return reply.code(404).send({ error: 'Not Found', message: `no console file ${file}` });
    void reply.headers({ etag: f.etag, 'cache-control': 'no-cache', 'content-security-policy': csp, 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer' });
    return ifNoneMatch === f.etag ? reply.code(304).send() : reply.type(f.type).send(f.body);
  };
  const FileParams = z.object({ file: z.string() });

  app.get('/', { schema: hide }, (_req, reply) => reply.redirect('/ui/'));
  app.get('/ui', { schema: hide }, (_req, reply) => reply.redirect('/ui/'));
  app.get('/ui/', { schema: hide }, (req, reply) => send(reply, 'index.html', req.headers['if-none-match']));
  app.get('/ui/:file', { schema: { ...hide, params: FileParams } }, (req, reply) => send(reply, req.params.file, req.headers['if-none-match']));
  app.get('/ui/vendor/:file', { schema: { ...hide, params: FileParams } }, (req, reply) => send(reply, `vendor/${req.params.file}`, req.headers['if-none-match']));

  const secure = (protocol: string) => protocol === 'https';

  app.post('/ui/session', { schema: { ...hide, body: SignIn } }, async (req, reply) => {
    const form = !(req.headers.accept ?? '').includes('application/json');
    if (!isToken(req.body.token)) {
      req.log.info('console sign-in refused: not the API token');
      return form ? reply.redirect('/ui/?signin=refused', 303) : reply.code(401).send({ error: 'Unauthorized', message: 'that is not the API token' });
    }
    const { value, expires } = sessions.create();
    void reply.header('set-cookie', sessionCookie(value, expires, secure(req.protocol)));
    return form ? reply.redirect('/ui/', 303) : reply.send({ csrf: sessions.csrf(value), expires: expires.toISOString() });
  });

  app.get('/ui/session', { schema: hide }, async (req, reply) => {
    const csrf = sessions.csrf(cookieValue(req.headers.cookie, SESSION_COOKIE));
    return csrf ? { csrf } : reply.code(401).send({ error: 'Unauthorized', message: 'not signed in' });
  });

  // Signing out changes something too: a forged request must not end an operator's session.
  app.delete('/ui/session', { schema: hide }, async (req, reply) => {
    if (!sessions.csrfMatches(cookieValue(req.headers.cookie, SESSION_COOKIE), req.headers[CSRF_HEADER] as string | undefined))
      return reply.code(403).send({ error: 'Forbidden', message: `signing out needs the session's CSRF token in ${CSRF_HEADER}` });
    return reply.header('set-cookie', sessionCookie('', new Date(0), secure(req.protocol))).code(204).send();
  });
};
