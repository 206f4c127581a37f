/**
 * Why a connection to a host failed, in the few kinds an operator can act on. Classification is
 * pure so the messages can be tested without a network.
 */
export type ConnectErrorKind = 'refused' | 'timeout' | 'auth' | 'host-key-mismatch' | 'unreachable';

export class ConnectError extends Error {
  constructor(
    readonly kind: ConnectErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'ConnectError';
  }

  /**
   * A host that is still booting refuses or times out; a wrong key or a refused login will not fix
   * itself by waiting, so those fail at once instead of burning the whole deadline.
   */
  get retryable(): boolean {
    return this.kind === 'refused' || this.kind === 'timeout' || this.kind === 'unreachable';
  }
}

const UNREACHABLE_CODES = new Set(['EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN', 'EADDRNOTAVAIL']);
const NO_NAME_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME']);

export interface FailureFacts {
  /** host:port, for the message */
  where: string;
  user: string;
  timeoutMs: number;
  /** Set by the host key verifier when it refused a key: that key's fingerprint. */
  refusedHostKey?: string;
  pinnedCount: number;
}

/** Turns an ssh2 / socket error into a ConnectError with a message that says what to check. */
export function classifyConnectError(err: { code?: unknown; level?: unknown; message?: string }, f: FailureFacts): ConnectError {
  if (f.refusedHostKey !== undefined)
    return new ConnectError(
      'host-key-mismatch',
      `${f.where}: HOST KEY MISMATCH: the host presented ${f.refusedHostKey}, which is not among the ${f.pinnedCount} key(s) the installer reported; refusing to connect (reinstall, or check for a machine answering in its place)`,
    );
  if (/no matching host key format/.test(err.message ?? ''))
    return new ConnectError(
      'host-key-mismatch',
      `${f.where}: HOST KEY MISMATCH: the host offers none of the key types the installer reported; refusing to connect`,
    );
  const code = typeof err.code === 'string' ? err.code : undefined;
  if (err.level === 'client-authentication')
    return new ConnectError('auth', `${f.where}: user ${f.user} was not accepted with kickstand's key (is kickstand's public key in its authorized_keys?)`);
  if (code === 'ECONNREFUSED') return new ConnectError('refused', `${f.where}: connection refused (sshd not listening yet?)`);
  if (err.level === 'client-timeout' || code === 'ETIMEDOUT')
    return new ConnectError('timeout', `${f.where}: no SSH handshake within ${Math.round(f.timeoutMs / 100) / 10}s`);
  if (code !== undefined && UNREACHABLE_CODES.has(code)) return new ConnectError('unreachable', `${f.where}: host unreachable (${code})`);
  if (code !== undefined && NO_NAME_CODES.has(code)) return new ConnectError('unreachable', `${f.where}: host name does not resolve (${code})`);
  return new ConnectError('unreachable', `${f.where}: connection failed: ${err.message ?? String(err)}`);
}
