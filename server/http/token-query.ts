import type { FastifyRouteSchemaDef, FastifyValidationResult } from 'fastify/types/schema.js';
import { validatorCompiler } from 'fastify-type-provider-zod';
import { z } from 'zod';

/** `?token=T`: the install token machines authenticate with on /boot. */
export const TokenQuery = z.object({ token: z.string().min(1).max(200) });

/**
 * The querystring validator of the config fetches, which machines (and the benchmark) make by
 * the thousand. A query with a token the schema accepts passes on one look at that field; any
 * other query goes to the schema's own validator, so a bad one gets exactly the 400 it got
 * before. Only `token` is read by those routes, so the parameters the schema would strip may stay.
 */
export function tokenQueryValidator<S>(route: FastifyRouteSchemaDef<S>): FastifyValidationResult {
  // Typed by the route's whole schema object, called with its querystring part: TokenQuery.
  const full = validatorCompiler(route as FastifyRouteSchemaDef<unknown> as FastifyRouteSchemaDef<z.ZodType>);
  const min = TokenQuery.shape.token.minLength!;
  const max = TokenQuery.shape.token.maxLength!;
  return (query: { token?: unknown } | null) => {
    const token = query?.token;
    return typeof token === 'string' && token.length >= min && token.length <= max ? true : full(query);
  };
}
