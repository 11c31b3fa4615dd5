import { createHash, type Hash } from "node:crypto";
import { createReadStream } from "node:fs";
import { Transform, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";

/** Streams [start, end) of a file into the hash (end exclusive); never holds more than a read buffer. */
export async function hashRange(hash: Hash, path: string, start: number, end: number): Promise<void> {
  if (end <= start) return;
  await pipeline(createReadStream(path, { start, end: end - 1 }), async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) hash.update(chunk);
  });
}

export async function sha256File(
  path: string,
  onBytes?: (n: number) => void,
): Promise<{ sha256: string; size: number }> {
  const hash = createHash("sha256");
  let size = 0;
  await pipeline(createReadStream(path), async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) {
      hash.update(chunk);
      size += chunk.length;
      onBytes?.(size);
    }
  });
  return { sha256: hash.digest("hex"), size };
}

/**
 * The SHA-256 of a file computed from the bytes as they are read for sending. Slices arrive in file order
 * (a retry may repeat part of one); bytes already hashed are skipped, and a gap (the part the server
 * already holds when an upload resumes) is read from the local file first.
 */
export class SendingHash {
  private readonly hash = createHash("sha256");
  private hashed = 0;
  constructor(
    readonly path: string,
    readonly size: number,
  ) {}

  /** Hashes up to `position` from the local file (for the bytes that are not sent again). */
  async catchUp(position: number): Promise<void> {
    if (position <= this.hashed) return;
    await hashRange(this.hash, this.path, this.hashed, position);
    this.hashed = position;
  }

  /** A pass-through for the bytes of [start, …) as they go out; hashes what is new. */
  tap(start: number): Transform {
    let position = start;
    return new Transform({
      transform: (chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) => {
        const end = position + chunk.length;
        if (end > this.hashed && position <= this.hashed) {
          this.hash.update(chunk.subarray(this.hashed - position));
          this.hashed = end;
        }
        position = end;
        callback(null, chunk);
      },
    });
  }

  async digest(): Promise<string> {
    await this.catchUp(this.size);
    return this.hash.digest("hex");
  }
}
