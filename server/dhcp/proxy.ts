import type { DhcpPacket } from './codec.js';
import type { ClientInfo } from './client-info.js';
import type { BootTarget } from './classify.js';
import { MessageType } from './options.js';
import { addBootInfo, newReply } from './reply.js';

/**
 * ProxyDHCP (PXE spec 2.1 §2.2.4): the site's DHCP server hands out addresses, kickstand only
 * adds boot information. On port 67 it answers DISCOVER with an address-less OFFER; on 4011
 * it answers the client's follow-up REQUEST (or INFORM) with an ACK.
 */
export function answerProxy(
  req: DhcpPacket,
  info: ClientInfo,
  boot: BootTarget,
  opts: { serverAddress: string; tftpServer: string; viaProxyPort: boolean },
): DhcpPacket | undefined {
  let type: number;
  if (!opts.viaProxyPort && info.type === 'DISCOVER') type = MessageType.OFFER;
  else if (opts.viaProxyPort && (info.type === 'REQUEST' || info.type === 'INFORM')) type = MessageType.ACK;
  else return undefined;
  const reply = newReply(req, type, opts.serverAddress);
  if (opts.viaProxyPort) reply.ciaddr = req.ciaddr;
  addBootInfo(reply, req, info, boot, opts.tftpServer, true);
  return reply;
}
