import { PowerError, operatorError } from './errors.js';

export interface CallContext {
  /** Names the machine, the BMC and the action; prefixes every error message. */
  context: string;
  seconds: number;
  /** The credential this call uses; fetched inside the call so its errors are reported alike. */
  secret?: () => Promise<string>;
}

/**
 * Runs one driver call with an AbortSignal that fires after `seconds`, and settles no later than
 * that even when the work ignores the signal (a hung child, a socket that never closes): a power
 * call must never hold the lifecycle longer than the BMC's timeout. Every failure leaves as a
 * PowerError that names the machine and action and holds no trace of the secret.
 */
export async function powerCall<T>(call: CallContext, work: (signal: AbortSignal, secret: string) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let secret = '';
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new PowerError('timeout', `no answer within ${call.seconds} s (bmc.timeoutSeconds); check that the BMC is up and reachable`);
      controller.abort(error);
      reject(error);
    }, call.seconds * 1000);
  });
  try {
    const run = async () => {
      if (call.secret) secret = await call.secret();
      return work(controller.signal, secret);
    };
    return await Promise.race([run(), expired]);
  } catch (err) {
    throw operatorError(err, call.context, [secret]);
  } finally {
    clearTimeout(timer);
    // Stop whatever still runs (a loser of the race) against a BMC nobody waits for any more.
    if (!controller.signal.aborted) controller.abort(new PowerError('timeout', 'call finished'));
  }
}
