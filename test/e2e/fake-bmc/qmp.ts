/**
 * Power backend that drives a QEMU VM through its QMP socket, for the e2e harness: the guest is
 * "on" while it runs; ForceOff pauses it (with -no-shutdown a guest power-off also leaves it
 * stopped), On resets and resumes it, ForceRestart resets it.
 */
import net from 'node:net';
import type { PowerBackend, RedfishPower } from './redfish.js';

/** One QMP conversation: greeting, capabilities, the commands in order, then close. */
export async function qmp(socketPath: string, commands: { execute: string; arguments?: object }[], timeoutMs = 5000): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(socketPath);
    const timer = setTimeout(() => sock.destroy(new Error(`QMP ${socketPath}: no answer within ${timeoutMs} ms`)), timeoutMs);
    const queue = [{ execute: 'qmp_capabilities' }, ...commands];
    const results: unknown[] = [];
    let greeted = false;
    let buf = '';
    const next = () => {
      const cmd = queue.shift();
      if (cmd) sock.write(JSON.stringify(cmd) + '\n');
      else sock.end();
    };
    sock.on('data', (d) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line) continue;
        const msg = JSON.parse(line) as { QMP?: unknown; event?: unknown; return?: unknown; error?: { desc?: string } };
        if (msg.event) continue;
        if (msg.QMP && !greeted) {
          greeted = true;
          next();
        } else if (msg.error) {
          sock.destroy(new Error(`QMP error: ${msg.error.desc}`));
        } else if ('return' in msg) {
          results.push(msg.return);
          next();
        }
      }
    });
    sock.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    sock.on('close', () => {
      clearTimeout(timer);
      // results[0] answers qmp_capabilities
      if (results.length === commands.length + 1) resolve(results.slice(1));
      else reject(new Error(`QMP ${socketPath}: connection closed early`));
    });
  });
}

export function qmpBackend(socketPath: string): PowerBackend {
  const run = (...names: string[]) => qmp(socketPath, names.map((execute) => ({ execute })));
  return {
    async power(): Promise<RedfishPower> {
      const [status] = (await run('query-status')) as { running: boolean }[];
      return status.running ? 'On' : 'Off';
    },
    async reset(type) {
      switch (type) {
        case 'On':
        case 'ForceOn':
        case 'PowerCycle':
          await run('system_reset', 'cont');
          return;
        case 'ForceOff':
          await run('stop');
          return;
        case 'GracefulShutdown':
          await run('system_powerdown');
          return;
        case 'ForceRestart':
        case 'GracefulRestart':
          await run('system_reset');
          return;
      }
    },
  };
}
