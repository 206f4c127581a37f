import swagger from '@fastify/swagger';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';

/** Headers of the page app's answer that belong to its own connection, not to the one it is handed to. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'date']);

/** Swagger UI in an app of its own, @fastify/swagger there only because swagger-ui requires it by name. */
async function loadPage(): Promise<FastifyInstance> {
  const { default: swaggerUi } = await import('@fastify/swagger-ui');
  const page = Fastify({ logger: false });
  await page.register(swagger);
  await page.register(swaggerUi, { routePrefix: '/docs' });
  await page.ready();
  return page;
}

/**
 * /docs: the OpenAPI document at /docs/json and /docs/yaml, from the app's own @fastify/swagger,
 * and Swagger UI's page and files under /docs. @fastify/swagger-ui (with @fastify/static) is
 * loaded on the first request for the page, not at start, so an instance nobody browses does not
 * keep it resident; its answers are handed on from an app of its own.
 */
export async function docsRoutes(app: FastifyInstance) {
  const hide = { schema: { hide: true } };
  app.get('/docs/json', hide, async () => app.swagger());
  app.get('/docs/yaml', hide, async (_req, reply) => reply.type('application/x-yaml').send(app.swagger({ yaml: true })));

  let page: Promise<FastifyInstance> | undefined;
  app.addHook('onClose', async () => {
    await (await page?.catch(() => undefined))?.close();
  });
  const handOn = async (req: FastifyRequest, reply: FastifyReply) => {
    // A failed load is tried again on the next request.
    page ??= loadPage().catch((err) => {
      page = undefined;
      throw err;
    });
    const res = await (await page).inject({ method: req.method as 'GET' | 'HEAD', url: req.url, headers: req.headers });
    for (const [name, value] of Object.entries(res.headers)) if (!HOP_BY_HOP.has(name) && value !== undefined) void reply.header(name, value);
    return reply.code(res.statusCode).send(res.rawPayload.length ? res.rawPayload : undefined);
  };
  app.get('/docs', hide, handOn);
  app.get('/docs/*', hide, handOn);
}
