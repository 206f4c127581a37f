import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { createLogger } from '../log.js';
import { startService } from '../main.js';

/** Where a browser on this host finds the console: on the API's listener, a wildcard address as localhost. */
function consoleUrl(config: Config, apiPort: number): string {
  const { listen, tls } = config.api;
  const host = listen?.host ?? config.http.host;
  const name = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  return `${listen && tls ? 'https' : 'http'}://${name}:${apiPort}/ui/`;
}

function banner(config: Config, svc: { port: number; apiPort: number; apiTokenFile?: string; apiTokenCreated: boolean }): string {
  const { listen, tls } = config.api;
  const lines = [
    `kickstand is running`,
    listen
      ? `  HTTP   ${config.http.host}:${svc.port}  (machines /boot)\n  API    ${tls ? 'https' : 'http'}://${listen.host}:${svc.apiPort}  (API /api/v1, docs /docs)`
      : `  HTTP   ${config.http.host}:${svc.port}  (API /api/v1, docs /docs, machines /boot)`,
    `  console ${consoleUrl(config, svc.apiPort)}  (web console: sign in with the API token)`,
    `  TFTP   ${config.tftp.enabled ? `udp ${config.tftp.host}:${config.tftp.port}, files from ${config.tftp.root}` : 'off'}`,
    `  DHCP   ${config.dhcp.mode === 'off' ? 'off' : `${config.dhcp.mode} on ${config.dhcp.interface}`}`,
    `  data   ${config.dataDir}   inventory ${config.inventory}   instance ${config.instance}`,
    `  unknown MACs  ${config.unknownMachines}${config.unknownMachines === 'discover' ? ' (the inventory agent: kickstand discovered list)' : ' (KICKSTAND_UNKNOWN_MACHINES=discover boots them into the inventory agent)'}`,
  ];
  if (config.dhcp.mode === 'off')
    lines.push(
      '',
      'To boot real machines: set dhcp.mode (proxy beside the site DHCP, or authoritative) and dhcp.interface',
      '(or KICKSTAND_DHCP_MODE / KICKSTAND_DHCP_INTERFACE), serve TFTP on the standard port 69',
      '(KICKSTAND_TFTP_PORT=69), and run as root or with CAP_NET_BIND_SERVICE + CAP_NET_RAW for ports 67/69.',
    );
  if (svc.apiTokenCreated)
    lines.push('', `A new API token was generated into ${svc.apiTokenFile} (mode 0600); the CLI reads it from there.`);
  return lines.join('\n') + '\n';
}

export async function serve(configFile?: string): Promise<number> {
  const config = loadConfig({ file: configFile });
  const logger = createLogger({ level: config.log.level });
  const svc = await startService(config, logger);
  process.stderr.write(banner(config, svc));
  const stop = async (signal: string) => {
    logger.info({ signal }, 'stopping');
    await svc.close();
    process.exit(0);
  };
  process.once('SIGINT', (s) => void stop(s));
  process.once('SIGTERM', (s) => void stop(s));
  return -1;
}
