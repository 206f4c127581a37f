import { spawn } from 'node:child_process';
import type { Socket } from 'node:dgram';

/**
 * UDP sockets bound to one network interface (SO_BINDTODEVICE), for Node's dgram.
 *
 * Why: a DHCP server must hear 255.255.255.255 broadcasts, and a socket bound to the
 * interface's address never receives those; bound to 0.0.0.0 it hears every interface of the
 * host and its limited-broadcast replies follow the routing table, i.e. may leave by the wrong
 * interface. SO_BINDTODEVICE fixes both in the kernel, but dgram cannot set socket options and
 * Node has no IP_PKTINFO to filter by arrival interface afterwards.
 *
 * How: a short-lived python3 (standard library only) creates the sockets with
 * SO_BINDTODEVICE, SO_BROADCAST and SO_REUSEADDR, then execs a tiny Node child with them
 * inherited; that child wraps each with dgram `bind({ fd })` and hands it to us through the
 * documented child_process IPC handle passing. Both steps are public APIs (no internal
 * protocol), the helper is gone once we hold the sockets, and the kernel does all filtering.
 * The child must close its copies at once: a socket open in two processes splits the packets
 * between them. (A packet arriving in the milliseconds of the hand-over may be read by the
 * child and lost; DHCP clients retransmit.)
 */

const PY = `
import os, socket, sys
iface, node, code, rcvbuf = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
fds = []
for port in sys.argv[5:]:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, iface.encode())
    try:
        s.setsockopt(socket.SOL_SOCKET, 33, rcvbuf)  # SO_RCVBUFFORCE (not exported by Python)
    except OSError:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.bind(('0.0.0.0', int(port)))
    fd = s.detach()
    os.set_inheritable(fd, True)
    fds.append(str(fd))
os.execv(node, [node, '-e', code] + fds)
`;

const CHILD = `
const dgram = require('node:dgram');
const fds = process.argv.slice(1).map(Number);
(async () => {
  for (const fd of fds) {
    const s = dgram.createSocket('udp4');
    await new Promise((ok) => s.bind({ fd }, ok));
    await new Promise((ok, ko) => process.send({ fd }, s, (e) => (e ? ko(e) : ok())));
    s.close();
  }
  process.exit(0);
})().catch((e) => { console.error(String(e)); process.exit(1); });
`;

/**
 * A burst of PXE clients (a rack powering on) or a relay's load test must wait in the kernel
 * while a lease commit runs; the default 208 KiB holds only ~300 requests. FORCE needs
 * CAP_NET_ADMIN, which a DHCP server has anyway (port 67); otherwise rmem_max caps it.
 */
const RCVBUF = 8 * 1024 * 1024;

export async function openDeviceSockets(iface: string, ports: number[], timeoutMs = 10_000): Promise<Socket[]> {
  const env = { ...process.env };
  // The child needs plain node; loaders from our own NODE_OPTIONS would only slow it down.
  delete env.NODE_OPTIONS;
  const child = spawn('python3', ['-c', PY, iface, process.execPath, CHILD, String(RCVBUF), ...ports.map(String)], {
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    env,
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const sockets: Socket[] = [];
  return new Promise<Socket[]>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill();
      reject(new Error(`binding DHCP sockets to ${iface} timed out`));
    }, timeoutMs);
    child.on('message', (_msg, handle) => {
      sockets.push(handle as unknown as Socket);
      if (sockets.length === ports.length) {
        clearTimeout(timer);
        resolve(sockets);
      }
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot run python3 to bind DHCP sockets to ${iface}: ${e.message}`));
    });
    child.on('exit', (code) => {
      if (sockets.length === ports.length) return;
      clearTimeout(timer);
      sockets.forEach((s) => s.close());
      const why = stderr.trim().split('\n').pop() ?? '';
      reject(new Error(`binding DHCP sockets to ${iface} (ports ${ports.join(', ')}) failed (exit ${code}): ${why}`));
    });
  });
}
