import { networkInterfaces } from 'node:os';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { startDhcpServer } from '../dhcp/server.js';
import { createRenderers } from '../render/renderers.js';
import { createLogger } from '../log.js';
import { type BootServer, type ServiceContext, startService } from '../main.js';
import { lintMachine, lintProfile } from '../render/lint.js';
import { startTftpServer } from '../tftp/server.js';

/** TFTP (and DHCP when enabled) around the HTTP service, as the config asks. */
function bootServers(config: Config) {
  const servers: ((ctx: ServiceContext) => Promise<BootServer>)[] = [];
  if (config.tftp.enabled)
    servers.push(async ({ events, logger, resolveIp }) =>
      startTftpServer({
        resolveIp: (ip) => {
          const mac = resolveIp(ip);
          return mac ? { mac } : undefined;
        },
        root: config.tftp.root,
        symlinkDirs: config.tftp.symlinkDirs,
        host: config.tftp.host,
        port: config.tftp.port,
        maxTransfers: config.tftp.maxTransfers,
        idleTimeoutSeconds: config.tftp.idleTimeoutSeconds,
        sink: events,
        logger: logger.child({ component: 'tftp' }),
      }),
    );
  if (config.dhcp.mode !== 'off')
    servers.push(async ({ events, logger, lifecycle, store, metrics, httpPort }) => {
      const dhcp = await startDhcpServer({
        config: config.dhcp,
        publicUrl: config.http.publicUrl ?? `http://${dhcpAddress(config.dhcp)}:${httpPort}`,
        tftpServer: config.dhcp.tftpServer,
        bootFiles: Object.fromEntries(Object.entries(config.dhcp.bootFiles).filter(([, v]) => v)),
        directory: { byMac: (mac) => lifecycle.bootView(mac) },
        leases: store.leases,
        sink: events,
        logger: logger.child({ component: 'dhcp' }),
        registry: metrics,
      });
      return { close: () => dhcp.close(), resolveIp: (ip) => dhcp.ipToMac(ip) };
    });
  return servers;
}

/** The address machines reach kickstand at: the configured one, else the DHCP interface's. */
function dhcpAddress(dhcp: Config['dhcp']): string {
  const addr = dhcp.serverAddress ?? networkInterfaces()[dhcp.interface ?? '']?.find((a) => a.family === 'IPv4')?.address;
  if (!addr) throw new Error(`dhcp.interface ${dhcp.interface ?? '(unset)'} has no IPv4 address: set dhcp.serverAddress or http.publicUrl`);
  return addr;
}

function banner(config: Config, svc: { port: number; apiToken: string; apiTokenCreated: boolean }): string {
  const lines = [
    `kickstand is running`,
    `  HTTP   ${config.http.host}:${svc.port}  (API /api/v1, docs /docs, machines /boot)`,
    `  TFTP   ${config.tftp.enabled ? `udp ${config.tftp.host}:${config.tftp.port}, files from ${config.tftp.root}` : 'off'}`,
    `  DHCP   ${config.dhcp.mode === 'off' ? 'off' : `${config.dhcp.mode} on ${config.dhcp.interface}`}`,
    `  data   ${config.dataDir}   inventory ${config.inventory}`,
  ];
  if (config.dhcp.mode === 'off')
    lines.push(
      '',
      'To boot real machines: set dhcp.mode (proxy beside the site DHCP, or authoritative) and dhcp.interface',
      '(or KICKSTAND_DHCP_MODE / KICKSTAND_DHCP_INTERFACE), serve TFTP on the standard port 69',
      '(KICKSTAND_TFTP_PORT=69), and run as root or with CAP_NET_BIND_SERVICE + CAP_NET_RAW for ports 67/69.',
    );
  if (svc.apiTokenCreated)
    lines.push('', `A new API token was generated and stored in ${config.dataDir}/api-token (shown this once):`, `  ${svc.apiToken}`);
  return lines.join('\n') + '\n';
}

export async function serve(configFile?: string): Promise<number> {
  const config = loadConfig({ file: configFile });
  const logger = createLogger({ level: config.log.level });
  const svc = await startService(config, logger, {
    renderers: (key) => createRenderers(config, key),
    lint: { profile: lintProfile, machine: lintMachine },
    extraServers: bootServers(config),
  });
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
