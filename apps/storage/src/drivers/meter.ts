import { createHash } from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";
import { DepotError } from "@depot/contract";

/** Counts and hashes the bytes passing through; fails the stream once more than maxBytes pass. */
export class Meter extends Transform {
  size = 0;
  private readonly hash = createHash("sha256");

  constructor(private readonly maxBytes: number) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.size += chunk.length;
    if (this.size > this.maxBytes) {
      callback(new DepotError("too_large", `upload exceeds the limit of ${this.maxBytes} bytes`));
      return;
    }
    this.hash.update(chunk);
    callback(null, chunk);
  }

  digest(): string {
    return this.hash.digest("hex");
  }
}

/** Throws checksum_mismatch or size_mismatch when the caller's expectations are not met. */
export function checkExpectations(
  result: { size: number; sha256: string },
  expected: { expectedSha256?: string; expectedSize?: number },
) {
  if (expected.expectedSize !== undefined && expected.expectedSize !== result.size) {
    throw new DepotError("size_mismatch", `received ${result.size} bytes, expected ${expected.expectedSize}`);
  }
  if (expected.expectedSha256 !== undefined && expected.expectedSha256.toLowerCase() !== result.sha256) {
    throw new DepotError("checksum_mismatch", "sha256 of the received bytes does not match the expected sha256");
  }
}
