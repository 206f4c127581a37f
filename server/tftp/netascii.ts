/**
 * RFC 1350 netascii: the wire form of text is CR LF for a newline and CR NUL for a lone CR.
 * Pure. Only tftp-hpa's default mode asks for it; PXE firmware always asks for octet.
 */
export function toNetascii(bytes: Buffer): Buffer {
  let extra = 0;
  for (const b of bytes) if (b === 0x0a || b === 0x0d) extra++;
  if (extra === 0) return bytes;
  const out = Buffer.allocUnsafe(bytes.length + extra);
  let o = 0;
  for (const b of bytes) {
    if (b === 0x0a) out[o++] = 0x0d;
    out[o++] = b;
    if (b === 0x0d) out[o++] = 0x00;
  }
  return out;
}
