import type { FastifyPluginAsync } from 'fastify';
import type { AppDeps } from '../deps.js';

/** Unauthenticated: health for load balancers, metrics for Prometheus. */
export const healthRoutes: FastifyPluginAsync<AppDeps> = async (app, { checkStore, metrics, config, dhcpRoles }) => {
  const { instance } = config;
  app.get('/healthz', { schema: { tags: ['service'], summary: 'Liveness, and the store takes a durable write; which instance answers, and which DHCP subnets it answers' } }, async (_req, reply) => {
    try {
      await checkStore();
      return { status: 'ok', instance, ...(dhcpRoles && { dhcp: dhcpRoles() }) };
    } catch (err) {
      return reply.code(503).send({ status: 'unhealthy', instance, ...(dhcpRoles && { dhcp: dhcpRoles() }), message: (err as Error).message });
    }
  });
  app.get('/metrics', { schema: { tags: ['service'], summary: 'Prometheus metrics' } }, async (_req, reply) =>
    reply.type(metrics.contentType).send(await metrics.metrics()),
  );
};
