/**
 * The storm's DHCP side: one UDP socket at the relay address (giaddr), port 67, as a relay agent
 * and perfdhcp use. Every simulated machine's exchange goes out through it with giaddr set, and
 * the server answers to giaddr:67; replies are matched to their exchange by xid. One socket for
 * a thousand machines keeps the load generator cheap.
 */
import dgram from 'node:dgram';
import { randomInt } from 'node:crypto';
import { BOOTREPLY, BOOTREQUEST, type DhcpPacket, parseDhcp, serializeDhcp } from '../../server/dhcp/codec.js';
import { MessageType, Opt, ipToBuf } from '../../server/dhcp/options.js';

/** What a machine learns from one DISCOVER–OFFER–REQUEST–ACK. */
export interface Lease {
  ip: string;
  /** siaddr (next-server) */
  nextServer: string;
  /** The boot file: a TFTP path for the PXE ROM, a URL for iPXE. */
  file: string;
  /** Requests sent again after a timeout. */
  retransmits: number;
}

/** Who is asking: the firmware's PXE ROM, or iPXE after it was chained (user class "iPXE"). */
export type DhcpClient = 'pxe' | 'ipxe';

/** RFC 2131 §4.1 retransmission, shortened: the first wait, doubled each time, this many sends. */
const FIRST_WAIT_MS = 2000;
const SENDS = 4;

const PXE_VENDOR = Buffer.from('PXEClient:Arch:00007:UNDI:003016');
const ARCH_UEFI_X64 = Buffer.from([0x00, 0x07]);
const PARAMS = Buffer.from([Opt.SUBNET_MASK, Opt.ROUTER, Opt.DNS, Opt.HOSTNAME, Opt.VENDOR_CLASS, Opt.TFTP_SERVER, Opt.BOOTFILE, Opt.CLIENT_ARCH, Opt.IPXE_ENCAP]);

export class RelayClient {
  private readonly waiting = new Map<number, (p: DhcpPacket) => void>();

  private constructor(
    private readonly socket: dgram.Socket,
    private readonly giaddr: string,
    private readonly server: string,
  ) {
    socket.on('message', (buf) => {
      const r = parseDhcp(buf);
      if (!r.ok || r.packet.op !== BOOTREPLY) return;
      this.waiting.get(r.packet.xid)?.(r.packet);
    });
  }

  static open(giaddr: string, server: string): Promise<RelayClient> {
    const socket = dgram.createSocket({ type: 'udp4', recvBufferSize: 1 << 22 });
    return new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ address: giaddr, port: 67 }, () => resolve(new RelayClient(socket, giaddr, server)));
    });
  }

  close(): void {
    this.socket.close();
  }

  /** A full four-way exchange for `mac`; rejects when a step got no answer after every retransmit, or a NAK. */
  async lease(mac: Buffer, uuid: Buffer, client: DhcpClient): Promise<Lease> {
    const xid = randomInt(1, 0xffffffff);
    const sent = { retransmits: 0 };
    const base = (type: number, extra: [number, Buffer][]): DhcpPacket => {
      const options = new Map<number, Buffer>([[Opt.MESSAGE_TYPE, Buffer.from([type])], ...extra]);
      options.set(Opt.PARAM_LIST, PARAMS);
      options.set(Opt.VENDOR_CLASS, PXE_VENDOR);
      options.set(Opt.CLIENT_ARCH, ARCH_UEFI_X64);
      options.set(Opt.CLIENT_UUID, uuid);
      if (client === 'ipxe') options.set(Opt.USER_CLASS, Buffer.from('iPXE'));
      const chaddr = Buffer.alloc(16);
      mac.copy(chaddr);
      return { op: BOOTREQUEST, htype: 1, hlen: 6, hops: 1, xid, secs: 0, flags: 0, ciaddr: '0.0.0.0', yiaddr: '0.0.0.0', siaddr: '0.0.0.0', giaddr: this.giaddr, chaddr, sname: '', file: '', options };
    };
    try {
      const offer = await this.exchange(base(MessageType.DISCOVER, []), MessageType.OFFER, sent);
      const serverId = offer.options.get(Opt.SERVER_ID) ?? ipToBuf(this.server);
      const ack = await this.exchange(base(MessageType.REQUEST, [[Opt.REQUESTED_IP, ipToBuf(offer.yiaddr)], [Opt.SERVER_ID, serverId]]), MessageType.ACK, sent);
      const bootfile = ack.options.get(Opt.BOOTFILE);
      return { ip: ack.yiaddr, nextServer: ack.siaddr, file: ack.file || (bootfile ? bootfile.toString('latin1').replace(/\0+$/, '') : ''), retransmits: sent.retransmits };
    } finally {
      this.waiting.delete(xid);
    }
  }

  /** Sends `req` until a reply of type `want` (or a NAK) comes back for its xid. */
  private exchange(req: DhcpPacket, want: number, sent: { retransmits: number }): Promise<DhcpPacket> {
    const wire = serializeDhcp(req);
    const type = req.options.get(Opt.MESSAGE_TYPE)![0];
    return new Promise((resolve, reject) => {
      let sends = 0;
      let timer: NodeJS.Timeout | undefined;
      const send = () => {
        if (sends === SENDS) {
          this.waiting.delete(req.xid);
          return reject(new Error(`dhcp: no answer to ${type === MessageType.DISCOVER ? 'DISCOVER' : 'REQUEST'} after ${SENDS} sends`));
        }
        if (sends++ > 0) sent.retransmits++;
        this.socket.send(wire, 67, this.server);
        timer = setTimeout(send, FIRST_WAIT_MS << (sends - 1));
      };
      this.waiting.set(req.xid, (p) => {
        const got = p.options.get(Opt.MESSAGE_TYPE)?.[0];
        if (got === MessageType.NAK) {
          clearTimeout(timer);
          this.waiting.delete(req.xid);
          reject(new Error(`dhcp: NAK${p.options.has(Opt.MESSAGE) ? `: ${p.options.get(Opt.MESSAGE)!.toString()}` : ''}`));
        } else if (got === want) {
          clearTimeout(timer);
          resolve(p);
        }
      });
      send();
    });
  }
}
