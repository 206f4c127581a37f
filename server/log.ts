import pino, { type Logger } from 'pino';

/**
 * Every secret the service handles, wherever it sits in a logged object: BMC passwords,
 * password hashes, install and API tokens, the Authorization header, private keys.
 */
export const REDACT_PATHS = [
  'password',
  '*.password',
  '*.*.password',
  'bmc.password',
  '*.bmc.password',
  'passwordHash',
  '*.passwordHash',
  'rootPasswordHash',
  '*.rootPasswordHash',
  '*.*.rootPasswordHash',
  'token',
  '*.token',
  'apiToken',
  '*.apiToken',
  'privateKey',
  '*.privateKey',
  'req.headers.authorization',
  'headers.authorization',
  'req.query.token',
];

/** Install tokens travel in URLs (?token=…): strip them before a URL is logged. */
export function redactUrl(url: string): string {
  return url.replace(/([?&]token=)[^&#\s]*/g, '$1[Redacted]');
}

export function createLogger(opts: { level?: string; destination?: pino.DestinationStream } = {}): Logger {
  return pino(
    {
      level: opts.level ?? 'info',
      redact: { paths: REDACT_PATHS, censor: '[Redacted]' },
      serializers: {
        req: (req: { method: string; url: string; ip?: string }) => ({ method: req.method, url: redactUrl(req.url), ip: req.ip }),
      },
    },
    opts.destination,
  );
}
export type { Logger };
