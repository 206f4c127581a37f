import { parseArgs } from 'node:util';
import { commands } from './commands.js';

const USAGE = `kickstand — bare-metal provisioning

Usage: kickstand <command> [options]

  serve [--config FILE]                 run the service (DHCP, TFTP, HTTP boot, API)
  apply -f DIR [--prune] [--yes]        plan the inventory in DIR against kickstand; apply unless --dry-run
  machine list|show NAME|hardware NAME|add -f FILE|rm NAME
  profile list|show NAME
  rule list|show NAME|rm NAME           discovery rules (written with apply -f DIR, kind: rule)
  rule test ID                          how each rule judges a discovered box, and which one wins
  discovered list|show ID|reject ID|rm ID
                                        boxes that reported their hardware without being machines
  discovered accept ID --name NAME --profile PROFILE [--reinstall] [--ipv4 CIDR [--gateway IP]]
                                        make a discovered box a machine (the profile is checked
                                        against its hardware first)
  reinstall NAME [--wait] [--force]     one-time PXE boot, power cycle, install, converge
  cancel NAME                           cancel a running reinstall
  watch NAME                            live progress of a machine
  progress NAME                         state, phase and events now
  render NAME ipxe|kickstart|ignition   preview what the machine would be served
  converge plan|apply|audit NAME        run the converger against an installed machine

Common options: --url URL (KICKSTAND_URL, default http://127.0.0.1:8080)
                --token TOKEN (KICKSTAND_API_TOKEN, default: the token in ./var/api-token)
                --json  machine-readable output
`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      file: { type: 'string', short: 'f' },
      url: { type: 'string' },
      token: { type: 'string' },
      json: { type: 'boolean', default: false },
      prune: { type: 'boolean', default: false },
      'dry-run': { type: 'boolean', default: false },
      wait: { type: 'boolean', default: false },
      force: { type: 'boolean', default: false },
      timeout: { type: 'string' },
      name: { type: 'string' },
      profile: { type: 'string' },
      reinstall: { type: 'boolean', default: false },
      ipv4: { type: 'string' },
      gateway: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [name, ...rest] = positionals;
  if (values.help || !name) {
    process.stdout.write(USAGE);
    return name || values.help ? 0 : 2;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`kickstand: unknown command "${name}"\n\n${USAGE}`);
    return 2;
  }
  return command(rest, values);
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== undefined && code !== -1) process.exitCode = code;
  },
  (err: Error & { body?: { issues?: { path: string; message: string }[] } }) => {
    process.stderr.write(`kickstand: ${err.message}\n`);
    for (const i of err.body?.issues ?? []) if (!err.message.includes(i.message)) process.stderr.write(`  ${i.path}: ${i.message}\n`);
    process.exitCode = 1;
  },
);
