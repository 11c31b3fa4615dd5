import { createCipheriv, createHash } from "node:crypto";
import { open, rm } from "node:fs/promises";

const PAYLOAD_CHUNK_BYTES = 8 * 1024 * 1024;

/**
 * 8 MiB of incompressible pseudo-random bytes, the same in every process: an AES-CTR keystream under a fixed key.
 * Clients send it repeated, so the bench can predict the sha256 the service must report without any data passing
 * between processes.
 */
export function payloadChunk(): Buffer {
  const cipher = createCipheriv("aes-256-ctr", Buffer.alloc(32, 0x5d), Buffer.alloc(16, 0));
  return Buffer.concat([cipher.update(Buffer.alloc(PAYLOAD_CHUNK_BYTES)), cipher.final()]);
}

/** Bytes [start, start + length) of the payload, which is the chunk repeated without end. */
export function* payloadPieces(length: number, chunk: Buffer, start = 0): Generator<Buffer> {
  const end = start + length;
  for (let position = start; position < end; ) {
    const within = position % chunk.length;
    const piece = chunk.subarray(within, within + Math.min(chunk.length - within, end - position));
    yield piece;
    position += piece.length;
  }
}

/** One upload of `bytes`, the payload from `offset` on, with its digest (computed up front) and its pieces. */
export function payloadContent(bytes: number, chunk: Buffer, offset = 0) {
  const hash = createHash("sha256");
  for (const piece of payloadPieces(bytes, chunk, offset)) hash.update(piece);
  const pieces = (start: number, length: number) => payloadPieces(length, chunk, offset + start);
  return { bytes, sha256: hash.digest("hex"), pieces };
}

export type Content = ReturnType<typeof payloadContent>;

/**
 * This machine's own limits for `bytes` of the payload in 8 MiB pieces: writing them to `path` with an fsync never,
 * once at the end or after every piece (as a tus PATCH is made durable), and hashing them; milliseconds each.
 */
export async function writeMs(path: string, bytes: number, fsync: "never" | "end" | "each"): Promise<number> {
  const chunk = payloadChunk();
  const handle = await open(path, "wx");
  const startedAt = performance.now();
  for (let offset = 0; offset < bytes; offset += chunk.length) {
    await handle.write(chunk, 0, chunk.length, offset);
    if (fsync === "each") await handle.sync();
  }
  if (fsync === "end") await handle.sync();
  await handle.close();
  const ms = performance.now() - startedAt;
  await rm(path);
  return ms;
}

export function sha256Ms(bytes: number): number {
  const chunk = payloadChunk();
  const hash = createHash("sha256");
  const startedAt = performance.now();
  for (let hashed = 0; hashed < bytes; hashed += chunk.length) hash.update(chunk);
  hash.digest();
  return performance.now() - startedAt;
}
