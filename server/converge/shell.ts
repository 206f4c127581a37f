/** POSIX shell quoting: the result is one word whatever the input holds. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The command line to send for a script: always through `sh -c` so the login shell does not
 * matter, in the C locale because tool output is parsed, and under `sudo -n` for a non-root user
 * (never prompting: a password prompt would hang the converge). With a time limit, coreutils
 * `timeout` ends the script's whole process group on the host: closing the channel does not stop
 * a command run through sudo, and a hung dnf must not hold its lock into the next converge.
 */
export function remoteCommand(script: string, user: string, timeoutMs?: number): string {
  const limit = timeoutMs === undefined ? '' : `timeout -k 5 ${Math.max(1, Math.ceil(timeoutMs / 1000))} `;
  const sh = `${limit}sh -c ${shellQuote(`export LC_ALL=C; ${script}`)}`;
  return user === 'root' ? sh : `sudo -n -- ${sh}`;
}
