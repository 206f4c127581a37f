import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { resolve, sep } from 'node:path';
import type { FastifyReply, FastifyRequest } from 'fastify';

/** Resolves rel under root; undefined when it would escape (.., absolute, NUL). */
export function underRoot(root: string, rel: string): string | undefined {
  if (rel.includes('\0')) return undefined;
  const base = resolve(root);
  const full = resolve(base, rel.replace(/^\/+/, ''));
  return full === base || full.startsWith(base + sep) ? full : undefined;
}

/**
 * Streams a file with single-range support (bytes=a-b, a-, -n): installers and iPXE resume
 * large initrds and rootfs images with Range. Returns the bytes that will be sent, or undefined
 * when the file is missing (the caller answers 404).
 */
export async function sendFile(req: FastifyRequest, reply: FastifyReply, file: string): Promise<number | undefined> {
  const st = await stat(file).catch(() => undefined);
  if (!st?.isFile()) return undefined;
  const size = st.size;
  reply.header('accept-ranges', 'bytes').header('last-modified', st.mtime.toUTCString()).type('application/octet-stream');
  const range = req.headers.range;
  if (!range) {
    reply.header('content-length', size);
    await reply.send(createReadStream(file, { highWaterMark: 1 << 20 }));
    return size;
  }
  const m = /^bytes=(\d*)-(\d*)$/.exec(range.trim());
  let start = m?.[1] ? Number(m[1]) : NaN;
  let end = m?.[2] ? Number(m[2]) : size - 1;
  if (m && !m[1] && m[2]) {
    start = Math.max(0, size - Number(m[2]));
    end = size - 1;
  }
  end = Math.min(end, size - 1);
  if (!m || !Number.isFinite(start) || start > end || start >= size) {
    await reply.code(416).header('content-range', `bytes */${size}`).send();
    return 0;
  }
  reply.code(206).header('content-range', `bytes ${start}-${end}/${size}`).header('content-length', end - start + 1);
  await reply.send(createReadStream(file, { start, end, highWaterMark: 1 << 20 }));
  return end - start + 1;
}
