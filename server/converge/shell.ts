/** POSIX shell quoting: the result is one word whatever the input holds. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The command line to send for a script: always through `sh -c` so the login shell does not
 * matter, in the C locale because tool output is parsed, and under `sudo -n` for a non-root user
 * (never prompting: a password prompt would hang the converge).
 */
export function remoteCommand(script: string, user: string): string {
  const sh = `sh -c ${shellQuote(`export LC_ALL=C; ${script}`)}`;
  return user === 'root' ? sh : `sudo -n -- ${sh}`;
}
