import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { afterAll, describe, expect, test } from "vitest";
import { SendingHash } from "./hashing";

const dir = mkdtempSync(join(tmpdir(), "depot-cli-hash-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const data = randomBytes(3 * 1024 * 1024 + 17);
const file = join(dir, "f.bin");
writeFileSync(file, data);
const expected = createHash("sha256").update(data).digest("hex");

/** Sends [start, end) through the hash's tap in pieces of `piece` bytes, as the HTTP stack would read it. */
async function send(hash: SendingHash, start: number, end: number, piece = 64 * 1024) {
  await hash.catchUp(start);
  const chunks: Buffer[] = [];
  for (let p = start; p < end; p += piece) chunks.push(data.subarray(p, Math.min(end, p + piece)));
  await pipeline(Readable.from(chunks), hash.tap(start), new Writable({ write: (_c, _e, cb) => cb() }));
}

describe("SendingHash", () => {
  test("slices sent in order give the file's sha256", async () => {
    const hash = new SendingHash(file, data.length);
    for (let s = 0; s < data.length; s += 1024 * 1024) await send(hash, s, Math.min(data.length, s + 1024 * 1024));
    expect(await hash.digest()).toBe(expected);
  });

  test("a resumed upload hashes the part the server holds from disk, then the sent rest", async () => {
    const hash = new SendingHash(file, data.length);
    await send(hash, 1_500_001, data.length);
    expect(await hash.digest()).toBe(expected);
  });

  test("a retried slice that overlaps bytes already hashed is not hashed twice", async () => {
    const hash = new SendingHash(file, data.length);
    await send(hash, 0, 2_000_000);
    await send(hash, 1_048_576, data.length, 100_000); // the retry starts again at the last acknowledged offset
    expect(await hash.digest()).toBe(expected);
  });

  test("nothing sent (the server already had it all) still gives the sha256", async () => {
    expect(await new SendingHash(file, data.length).digest()).toBe(expected);
  });

  test("different bytes give a different sha256", async () => {
    const other = join(dir, "g.bin");
    const changed = Buffer.from(data);
    changed[12345] = (changed[12345] ?? 0) ^ 1;
    writeFileSync(other, changed);
    expect(await new SendingHash(other, changed.length).digest()).not.toBe(expected);
  });
});
