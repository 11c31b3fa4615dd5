import { createCipheriv, createHash } from "node:crypto";

export const PAYLOAD_CHUNK_BYTES = 8 * 1024 * 1024;

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
export function* payloadPieces(length: number, chunk: Buffer = payloadChunk(), start = 0): Generator<Buffer> {
  const end = start + length;
  for (let position = start; position < end; ) {
    const within = position % chunk.length;
    const piece = chunk.subarray(within, within + Math.min(chunk.length - within, end - position));
    yield piece;
    position += piece.length;
  }
}

/** The bytes of one upload: `piece(start, length)` yields bytes [start, start + length) of it. */
export interface Content {
  bytes: number;
  sha256: string;
  pieces(start: number, length: number): Iterable<Buffer>;
}

/** The payload (an 8 MiB pseudo-random chunk repeated) from `offset` on; its digest is computed once, up front. */
export function payloadContent(bytes: number, chunk: Buffer, offset = 0): Content {
  const hash = createHash("sha256");
  for (const piece of payloadPieces(bytes, chunk, offset)) hash.update(piece);
  const sha256 = hash.digest("hex");
  return { bytes, sha256, pieces: (start, length) => payloadPieces(length, chunk, offset + start) };
}
