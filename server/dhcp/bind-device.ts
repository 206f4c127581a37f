import { spawn, spawnSync } from 'node:child_process';
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
 * SO_BINDTODEVICE and SO_BROADCAST, then execs a tiny Node child with them
 * inherited; that child wraps each with dgram `bind({ fd })` and hands it to us through the
 * documented child_process IPC handle passing. Both steps are public APIs (no internal
 * protocol), the helper is gone once we hold the sockets, and the kernel does all filtering.
 * The child must close its copies at once: a socket open in two processes splits the packets
 * between them. (A packet arriving in the milliseconds of the hand-over may be read by the
 * child and lost; DHCP clients retransmit.)
 *
 * The port is ours alone on the interface (SO_REUSEADDR off): otherwise a second kickstand, or
 * a dnsmasq (which sets SO_REUSEADDR and SO_REUSEPORT on its port 67 under bind-interfaces),
 * binds the same port on the same interface and both answer every broadcast. The helper binds
 * without it, so a kickstand started second fails; but libuv sets SO_REUSEADDR on every UDP
 * socket it wraps (uv_udp_open), here twice (the child's bind({ fd }) and our own copy of the
 * received handle), which would let a dnsmasq started *after* us share the port. So python
 * keeps its own descriptors of the sockets until we tell it we hold ours, then turns
 * SO_REUSEADDR off again on the (shared) sockets and exits: the kernel then refuses any later
 * bind of the port on this interface (or on all interfaces). Servers bound to *other*
 * interfaces (SO_BINDTODEVICE on each side) still coexist.
 */

const PY = `
import errno, os, select, socket, sys
iface, node, code, rcvbuf = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
socks = []
for port in sys.argv[5:]:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, iface.encode())
    try:
        s.setsockopt(socket.SOL_SOCKET, 33, rcvbuf)  # SO_RCVBUFFORCE (not exported by Python)
    except OSError:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    try:
        s.bind(('0.0.0.0', int(port)))
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            print('IN-USE ' + port, file=sys.stderr)
            sys.exit(3)
        raise
    os.set_inheritable(s.fileno(), True)
    socks.append(s)
pid = os.fork()
if pid == 0:
    os.execv(node, [node, '-e', code] + [str(s.fileno()) for s in socks])
child = 0
while True:
    ready, _, _ = select.select([sys.stdin], [], [], 0.1)
    if ready:
        if sys.stdin.readline().strip() != 'held':
            sys.exit(4)
        break
    if child == 0:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done and os.waitstatus_to_exitcode(status) != 0:
            sys.exit(5)
        child = done
for s in socks:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 0)
    s.close()
if child == 0:
    os.waitpid(pid, 0)
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

/** Who holds a UDP port, from `ss` (best effort, for the error message): e.g. 'dnsmasq (pid 123)'. */
function portHolders(port: number): string | undefined {
  const r = spawnSync('ss', ['-Hulnp', `sport = :${port}`], { encoding: 'utf8', timeout: 2000 });
  if (r.status !== 0 || !r.stdout) return undefined;
  const found = [...r.stdout.matchAll(/\("([^"]+)",pid=(\d+)/g)].map((m) => `${m[1]} (pid ${m[2]})`);
  return found.length ? [...new Set(found)].join(', ') : undefined;
}

export async function openDeviceSockets(iface: string, ports: number[], timeoutMs = 10_000): Promise<Socket[]> {
  const env = { ...process.env };
  // The child needs plain node; loaders from our own NODE_OPTIONS would only slow it down.
  delete env.NODE_OPTIONS;
  const child = spawn('python3', ['-c', PY, iface, process.execPath, CHILD, String(RCVBUF), ...ports.map(String)], {
    stdio: ['pipe', 'ignore', 'pipe', 'ipc'],
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
      // Our copies exist (and libuv turned SO_REUSEADDR on for them): python may turn it off again.
      if (sockets.length === ports.length) child.stdin!.end('held\n');
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot run python3 to bind DHCP sockets to ${iface}: ${e.message}`));
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (sockets.length === ports.length && code === 0) return resolve(sockets);
      sockets.forEach((s) => s.close());
      const why = stderr.trim().split('\n').pop() ?? '';
      const inUse = /^IN-USE (\d+)$/m.exec(stderr);
      if (inUse) {
        const holders = portHolders(Number(inUse[1]));
        reject(
          new Error(
            `DHCP port ${inUse[1]} on interface ${iface} is already in use${holders ? ` by ${holders}` : ''}: another DHCP server ` +
              `(a second kickstand, dnsmasq, dhcpd, kea) listens there; kickstand does not share the port, stop the other server or use another interface`,
          ),
        );
        return;
      }
      reject(new Error(`binding DHCP sockets to ${iface} (ports ${ports.join(', ')}) failed (exit ${code}): ${why}`));
    });
  });
}
