/**
 * The environment for a kickstand (or kickstand CLI) process a test starts: the caller's
 * environment without any KICKSTAND_* variable, then `set`. Every KICKSTAND_* setting
 * (server/config/load.ts, server/cli/client.ts) overrides config files and flags' defaults, so
 * one exported in the shell that runs the tests (a token, a data directory, a port) would
 * otherwise change what the test is testing.
 */
export function cleanEnv(set: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('KICKSTAND_')) env[k] = v;
  return Object.assign(env, set);
}
