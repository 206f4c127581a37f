import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { ConflictError, InventoryRefused, LifecycleError, Misfit, StoreUnavailable } from '../model/errors.js';

export interface Issue {
  path: string;
  message: string;
}

const toPath = (instancePath: string) => instancePath.replace(/^\//, '').replace(/\//g, '.');

/**
 * One error shape for the whole API: { error, message, issues?: [{ path, message }] }.
 * Bad input is a 400 naming the field; a server fault is the only 500.
 */
export function errorHandler(err: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
  if (hasZodFastifySchemaValidationErrors(err)) {
    const where = err.validationContext ?? 'body';
    const issues: Issue[] = err.validation.map((v) => ({
      path: [where === 'body' ? '' : where, toPath(v.instancePath)].filter(Boolean).join('.') || where,
      message: v.message ?? 'invalid',
    }));
    void reply.code(400).send({ error: 'Bad Request', message: issues.map((i) => `${i.path}: ${i.message}`).join('; '), issues });
    return;
  }
  if (err instanceof InventoryRefused) {
    void reply.code(400).send({ error: 'Bad Request', message: err.message, issues: err.issues });
    return;
  }
  if (err instanceof Misfit) {
    void reply.code(409).send({ error: 'Misfit', message: err.message, issues: err.problems });
    return;
  }
  if (err instanceof ConflictError) {
    void reply.code(409).send({ error: 'Conflict', message: err.message, issues: [{ path: err.field, message: err.message }] });
    return;
  }
  if (err instanceof LifecycleError) {
    const code = { 'not-found': 404, busy: 409, forbidden: 403, invalid: 400, gone: 410 }[err.code];
    void reply.code(code).send({ error: err.code, message: err.message });
    return;
  }
  if (err instanceof StoreUnavailable) {
    req.log.error({ err }, 'store unavailable');
    void reply.code(503).header('retry-after', '5').send({ error: 'Service Unavailable', message: `${err.message}: nothing was changed, try again` });
    return;
  }
  const status = err.statusCode && err.statusCode < 500 ? err.statusCode : 500;
  if (status === 500) req.log.error({ err }, 'request failed');
  void reply.code(status).send({ error: status === 500 ? 'Internal Server Error' : err.name, message: status === 500 ? 'internal error (see the server log)' : err.message });
}

export function notFound(what: string, name: string) {
  return { error: 'Not Found', message: `no ${what} named ${name}` };
}
