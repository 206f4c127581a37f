import swagger from '@fastify/swagger';
import Fastify from 'fastify';
import { jsonSchemaTransform, jsonSchemaTransformObject, serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { AppDeps } from './deps.js';
import { operatorAuth } from './auth.js';
import { docsRoutes } from './docs.js';
import { errorHandler } from './errors.js';
import { applyRoutes } from './routes/apply.js';
import { bootRoutes } from './routes/boot.js';
import { discoveryBootRoutes } from './routes/discovery-boot.js';
import { discoveredRoutes } from './routes/discovered.js';
import { eventRoutes } from './routes/events.js';
import { fileRoutes } from './routes/files.js';
import { healthRoutes } from './routes/health.js';
import { lifecycleRoutes } from './routes/lifecycle.js';
import { machineRoutes } from './routes/machines.js';
import { profileRoutes } from './routes/profiles.js';
import { renderRoutes } from './routes/render.js';
import { ruleRoutes } from './routes/rules.js';
import { uiRoutes } from './routes/ui.js';
import { Sessions } from './session.js';

/** What one listener serves: everything, or (with api.listen) the machine side and the operator side apart. */
export type AppPart = 'all' | 'boot' | 'api';

/**
 * The HTTP app: /api/v1 (operators: bearer token, or the console's session) and /docs, the web
 * console at /ui/, /boot (machines, install tokens), /healthz and /metrics. One encapsulated
 * plugin per route family. With `tls`, the listener speaks HTTPS (the operator side only:
 * firmware fetches /boot over plain HTTP).
 */
export async function buildApp(deps: AppDeps, part: AppPart = 'all', tls?: { cert: Buffer; key: Buffer }) {
  const { http } = deps.config;
  // Unauthenticated clients share these sockets: a trickled request or an idle connection must end.
  const app = Fastify({
    ...(tls ? { https: tls } : {}),
    loggerInstance: deps.logger,
    trustProxy: false,
    bodyLimit: 4 << 20,
    requestTimeout: http.requestTimeoutSeconds * 1000,
    connectionTimeout: http.idleTimeoutSeconds * 1000,
    // Node enforces requestTimeout only when it sweeps its connections, every 30 s by default.
    http: { connectionsCheckingInterval: 1000 },
  }).withTypeProvider<ZodTypeProvider>();
  app.server.headersTimeout = Math.min(app.server.headersTimeout, http.requestTimeoutSeconds * 1000);
  app.server.maxConnections = http.maxConnections;
  // A client may close its sending side once its request is out (busybox nc, minimal agents in
  // live images); by default Node drops its request when that FIN comes before the answer.
  // (Node's own property, missing from its type definitions.)
  (app.server as typeof app.server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler(errorHandler);

  // The OpenAPI document lists the routes registered after it.
  if (part !== 'boot') {
    await app.register(swagger, {
      openapi: {
        info: { title: 'kickstand', description: 'Bare-metal provisioning: operator API and machine boot endpoints', version: '0.1.0' },
        components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
        security: [{ bearer: [] }],
      },
      transform: jsonSchemaTransform,
      // Schemas with an id (Inventory, Rule) are components the routes refer to.
      transformObject: jsonSchemaTransformObject,
    });
    await app.register(docsRoutes);
  }
  await app.register(healthRoutes, deps);
  if (part !== 'api')
    await app.register(
      async (boot) => {
        await boot.register(bootRoutes, deps);
        await boot.register(discoveryBootRoutes, deps);
        await boot.register(fileRoutes, deps);
      },
      { prefix: '/boot' },
    );
  if (part === 'boot') return app;
  const sessions = new Sessions(deps.apiToken);
  await app.register(uiRoutes, { ...deps, sessions });
  await app.register(
    async (api) => {
      api.addHook('onRequest', operatorAuth(deps.apiToken, sessions));
      await api.register(machineRoutes, deps);
      await api.register(profileRoutes, deps);
      await api.register(ruleRoutes, deps);
      await api.register(discoveredRoutes, deps);
      await api.register(lifecycleRoutes, deps);
      await api.register(eventRoutes, deps);
      await api.register(renderRoutes, deps);
      await api.register(applyRoutes, deps);
    },
    { prefix: '/api/v1' },
  );
  return app;
}
export type App = Awaited<ReturnType<typeof buildApp>>;

