import { createHash, randomBytes } from "node:crypto";
import { PassThrough, Readable } from "node:stream";
import { DepotError, type ErrorCode } from "@depot/contract";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { StorageDriver, WriteOptions } from "./driver";

export interface ConformanceFixture {
  driver: StorageDriver;
  cleanup(): Promise<void>;
  /** Every object or file name in the backing store, temporary ones included. */
  listRaw(): Promise<string[]>;
}

const KiB = 1024;
const MiB = 1024 * KiB;
const GENEROUS_LIMIT = 1024 * MiB;
const LARGE_OBJECT_BYTES = 100 * MiB;
const INVALID_KEYS = ["../x", "/etc/passwd", "a\0b", "a\\b", "%2e%2e/x"];

const sha256Of = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");

/** A Readable of one buffer (Readable.from(buffer) would emit it byte by byte). */
const sourceOf = (bytes: Buffer) => Readable.from(bytes.length > 0 ? [bytes] : []);

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function measure(stream: Readable): Promise<{ size: number; sha256: string }> {
  const hash = createHash("sha256");
  let size = 0;
  for await (const chunk of stream) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { size, sha256: hash.digest("hex") };
}

/**
 * Pseudo-random bytes made chunk by chunk on demand and hashed while they are made, so a large source never exists
 * in memory. `then` decides how the stream finishes after `totalBytes`: it ends, fails like a client that went away,
 * or stalls like a client that stopped sending (`delivered` resolves once the consumer pulled every byte).
 */
function generatedSource(totalBytes: number, then: "end" | "error" | "stall" = "end", chunkBytes = MiB) {
  const hash = createHash("sha256");
  let remaining = totalBytes;
  let markDelivered: () => void = () => {};
  const delivered = new Promise<void>((resolve) => {
    markDelivered = resolve;
  });
  const stream = new Readable({
    read() {
      if (remaining === 0) {
        markDelivered();
        if (then === "end") this.push(null);
        else if (then === "error") this.destroy(new Error("the client went away"));
        return;
      }
      const chunk = randomBytes(Math.min(chunkBytes, remaining));
      hash.update(chunk);
      remaining -= chunk.length;
      this.push(chunk);
    },
  });
  return { stream, delivered, sha256: () => hash.digest("hex") };
}

async function expectDepotError(promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  const outcome = await promise.then(
    (value) => ({ resolved: value }),
    (error: unknown) => ({ error }),
  );
  expect(outcome, `expected a DepotError "${code}"`).toHaveProperty("error");
  const error = (outcome as { error: unknown }).error;
  expect(error).toBeInstanceOf(DepotError);
  expect((error as DepotError).code).toBe(code);
}

/**
 * The behaviour every StorageDriver must show, registered as Vitest suites. `setup` runs before every test and must
 * return an empty disk; `cleanup` runs after it.
 */
export function runDriverConformance(name: string, setup: () => Promise<ConformanceFixture>): void {
  describe(`${name} driver conformance`, () => {
    let fixture: ConformanceFixture;
    let driver: StorageDriver;

    beforeEach(async () => {
      fixture = await setup();
      driver = fixture.driver;
    });
    afterEach(async () => {
      await fixture.cleanup();
    });

    const write = (key: string, bytes: Buffer, options: Partial<WriteOptions> = {}) =>
      driver.write(key, sourceOf(bytes), { maxBytes: GENEROUS_LIMIT, ...options });

    const sortedRaw = async () => (await fixture.listRaw()).sort();

    describe("write and read", () => {
      it.each([0, 1, 64 * KiB])("round-trips %i bytes with their size and sha256", async (size) => {
        const bytes = randomBytes(size);
        const result = await write("c1/2025/01/object", bytes);
        expect(result).toEqual({ size, sha256: sha256Of(bytes) });
        const readBack = await readAll(await driver.read("c1/2025/01/object"));
        expect(readBack.length).toBe(size);
        expect(sha256Of(readBack)).toBe(sha256Of(bytes));
        expect((await driver.stat("c1/2025/01/object"))?.size).toBe(size);
      });

      it("streams 100 MiB in and out with the sha256 computed independently", { timeout: 180_000 }, async () => {
        const source = generatedSource(LARGE_OBJECT_BYTES);
        const result = await driver.write("c1/2025/01/large", source.stream, { maxBytes: GENEROUS_LIMIT });
        const expectedSha256 = source.sha256();
        expect(result).toEqual({ size: LARGE_OBJECT_BYTES, sha256: expectedSha256 });
        expect(await measure(await driver.read("c1/2025/01/large"))).toEqual({
          size: LARGE_OBJECT_BYTES,
          sha256: expectedSha256,
        });
        const raw = await sortedRaw();
        expect(raw).toHaveLength(1);
        expect(raw[0]).toMatch(/c1\/2025\/01\/large$/);
      });

      it("reads the first byte, a middle range and the last byte", async () => {
        const bytes = randomBytes(64 * KiB);
        await write("c1/ranged", bytes);
        const first = await readAll(await driver.read("c1/ranged", { start: 0, end: 0 }));
        expect(first).toEqual(bytes.subarray(0, 1));
        const middle = await readAll(await driver.read("c1/ranged", { start: 1000, end: 40_999 }));
        expect(middle).toEqual(bytes.subarray(1000, 41_000));
        const last = await readAll(await driver.read("c1/ranged", { start: bytes.length - 1, end: bytes.length - 1 }));
        expect(last).toEqual(bytes.subarray(bytes.length - 1));
      });

      it("accepts a write whose expected size and sha256 match (sha256 in any case)", async () => {
        const bytes = randomBytes(4 * KiB);
        const result = await write("c1/expected", bytes, {
          expectedSize: bytes.length,
          expectedSha256: sha256Of(bytes).toUpperCase(),
        });
        expect(result.sha256).toBe(sha256Of(bytes));
      });

      it("leaves exactly one raw object per written key", async () => {
        await write("c1/a", Buffer.from("a"));
        await write("c2/b", Buffer.from("b"));
        const raw = await sortedRaw();
        expect(raw).toHaveLength(2);
        expect(raw[0]).toMatch(/c1\/a$/);
        expect(raw[1]).toMatch(/c2\/b$/);
      });

      it("refuses to read a missing key with not_found", async () => {
        await expectDepotError(driver.read("c1/missing"), "not_found");
        await expectDepotError(driver.read("nowhere/at/all"), "not_found");
      });
    });

    describe("stat", () => {
      it("describes a present object and returns null for a missing one", async () => {
        const before = Date.now();
        await write("c1/2025/present", randomBytes(123));
        const info = await driver.stat("c1/2025/present");
        expect(info?.key).toBe("c1/2025/present");
        expect(info?.size).toBe(123);
        expect(info?.modifiedAt).toBeInstanceOf(Date);
        // Some stores keep whole seconds only.
        expect(Math.abs((info?.modifiedAt.getTime() ?? 0) - before)).toBeLessThan(60_000);
        expect(await driver.stat("c1/2025/absent")).toBeNull();
        expect(await driver.stat("no/such/folder")).toBeNull();
      });
    });

    describe("failed writes leave nothing behind", () => {
      it("refuses to replace an existing key with conflict and keeps the original", async () => {
        const original = Buffer.from("original content");
        await write("c1/taken", original);
        const rawBefore = await sortedRaw();
        await expectDepotError(write("c1/taken", Buffer.from("a replacement")), "conflict");
        expect(await readAll(await driver.read("c1/taken"))).toEqual(original);
        expect(await sortedRaw()).toEqual(rawBefore);
      });

      it("refuses a sha256 mismatch with checksum_mismatch", async () => {
        await write("c1/other", Buffer.from("unrelated"));
        const rawBefore = await sortedRaw();
        const bytes = randomBytes(2 * KiB);
        const wrongSha256 = sha256Of(Buffer.concat([bytes, Buffer.from("x")]));
        await expectDepotError(write("c1/checked", bytes, { expectedSha256: wrongSha256 }), "checksum_mismatch");
        expect(await driver.stat("c1/checked")).toBeNull();
        expect(await sortedRaw()).toEqual(rawBefore);
      });

      it("refuses a size mismatch with size_mismatch", async () => {
        const bytes = randomBytes(2 * KiB);
        await expectDepotError(write("c1/sized", bytes, { expectedSize: bytes.length + 1 }), "size_mismatch");
        expect(await driver.stat("c1/sized")).toBeNull();
        expect(await sortedRaw()).toEqual([]);
      });

      it("stops with too_large as soon as more than maxBytes arrive", async () => {
        // Larger than one 8 MiB upload part, so an S3 driver is mid multipart upload when the limit hits.
        const source = generatedSource(12 * MiB);
        await expectDepotError(driver.write("c1/huge", source.stream, { maxBytes: 9 * MiB }), "too_large");
        expect(await driver.stat("c1/huge")).toBeNull();
        expect(await sortedRaw()).toEqual([]);
      });

      it("accepts exactly maxBytes", async () => {
        const bytes = randomBytes(1000);
        await expect(write("c1/exact", bytes, { maxBytes: 1000 })).resolves.toEqual({
          size: 1000,
          sha256: sha256Of(bytes),
        });
      });

      it("rejects when the source fails mid-stream (client went away)", async () => {
        const source = generatedSource(10 * MiB, "error");
        await expect(driver.write("c1/broken", source.stream, { maxBytes: GENEROUS_LIMIT })).rejects.toThrow(
          "the client went away",
        );
        expect(await driver.stat("c1/broken")).toBeNull();
        expect(await sortedRaw()).toEqual([]);
      });

      it("rejects with AbortError when the signal aborts mid-stream", async () => {
        const source = generatedSource(10 * MiB, "stall");
        const controller = new AbortController();
        const writing = driver.write("c1/aborted", source.stream, {
          maxBytes: GENEROUS_LIMIT,
          signal: controller.signal,
        });
        await source.delivered;
        controller.abort();
        await expect(writing).rejects.toMatchObject({ name: "AbortError" });
        expect(source.stream.destroyed).toBe(true);
        expect(await driver.stat("c1/aborted")).toBeNull();
        expect(await sortedRaw()).toEqual([]);
      });

      it("rejects at once when the signal is already aborted", async () => {
        const controller = new AbortController();
        controller.abort();
        await expect(
          write("c1/never", Buffer.from("never stored"), { signal: controller.signal }),
        ).rejects.toMatchObject({ name: "AbortError" });
        expect(await sortedRaw()).toEqual([]);
      });
    });

    describe("delete", () => {
      it("returns true when it removed an object, then false", async () => {
        await write("c1/doomed", Buffer.from("bye"));
        expect(await driver.delete("c1/doomed")).toBe(true);
        expect(await driver.stat("c1/doomed")).toBeNull();
        await expectDepotError(driver.read("c1/doomed"), "not_found");
        expect(await driver.delete("c1/doomed")).toBe(false);
        expect(await driver.delete("no/such/folder")).toBe(false);
        expect(await sortedRaw()).toEqual([]);
      });
    });

    describe("list", () => {
      const cohortKeys = ["c1/2025/01/a", "c1/2025/01/b", "c1/2025/02/c", "c1/2026/01/d", "c1/2026/01/e"];

      beforeEach(async () => {
        // Written out of order: the listing must sort.
        for (const key of [...cohortKeys].reverse()) await write(key, Buffer.from(key));
        await write("c2/2025/01/z", Buffer.from("another cohort"));
        await write("c10/2025/01/y", Buffer.from("a cohort whose name extends c1"));
      });

      it("pages through a prefix in ascending order without duplicates", async () => {
        const pages: string[][] = [];
        let cursor: string | undefined;
        do {
          const page = await driver.list("c1/", { limit: 2, cursor });
          pages.push(page.items.map((item) => item.key));
          cursor = page.nextCursor ?? undefined;
          expect(pages.length).toBeLessThanOrEqual(3);
        } while (cursor);
        expect(pages).toEqual([cohortKeys.slice(0, 2), cohortKeys.slice(2, 4), cohortKeys.slice(4)]);
      });

      it("reports sizes and a null cursor when everything fits", async () => {
        const page = await driver.list("c1/2025/", { limit: 10 });
        expect(page.nextCursor).toBeNull();
        expect(page.items.map((item) => [item.key, item.size])).toEqual(
          cohortKeys.slice(0, 3).map((key) => [key, Buffer.byteLength(key)]),
        );
      });

      it("matches a prefix that ends inside a segment", async () => {
        const page = await driver.list("c1/2025/01/", { limit: 10 });
        expect(page.items.map((item) => item.key)).toEqual(["c1/2025/01/a", "c1/2025/01/b"]);
        const partial = await driver.list("c1/2026/01/d", { limit: 10 });
        expect(partial.items.map((item) => item.key)).toEqual(["c1/2026/01/d"]);
      });

      it("lists the whole disk with the empty prefix", async () => {
        const page = await driver.list("", { limit: 100 });
        expect(page.items.map((item) => item.key)).toEqual([...cohortKeys, "c10/2025/01/y", "c2/2025/01/z"]);
        expect(page.nextCursor).toBeNull();
      });

      it("returns an empty page for an unknown prefix", async () => {
        expect(await driver.list("c3/", { limit: 10 })).toEqual({ items: [], nextCursor: null });
      });

      it("refuses a prefix that climbs out of the disk", async () => {
        await expectDepotError(driver.list("../", { limit: 10 }), "invalid_key");
        await expectDepotError(driver.list("c1/../../", { limit: 10 }), "invalid_key");
      });

      it("never shows an unfinished write", async () => {
        const source = generatedSource(256 * KiB, "stall", 64 * KiB);
        const controller = new AbortController();
        const writing = driver.write("c1/2025/01/unfinished", source.stream, {
          maxBytes: GENEROUS_LIMIT,
          signal: controller.signal,
        });
        await source.delivered;
        const page = await driver.list("", { limit: 100 });
        expect(page.items.map((item) => item.key)).not.toContain("c1/2025/01/unfinished");
        expect(page.items.every((item) => !item.key.split("/").some((segment) => segment.startsWith(".")))).toBe(true);
        expect((await driver.usage()).byPrefix.c1?.files).toBe(cohortKeys.length);
        controller.abort();
        await expect(writing).rejects.toMatchObject({ name: "AbortError" });
      });
    });

    describe("usage", () => {
      it("sums bytes and files per top-level prefix", async () => {
        await write("c1/2025/a", randomBytes(10));
        await write("c1/2026/b", randomBytes(20));
        await write("c2/2025/c", randomBytes(5));
        const usage = await driver.usage();
        expect(usage.byPrefix).toEqual({ c1: { bytes: 30, files: 2 }, c2: { bytes: 5, files: 1 } });
        expect(usage.freeBytes === null || usage.freeBytes >= 0).toBe(true);
      });

      it("is empty on an empty disk", async () => {
        expect((await driver.usage()).byPrefix).toEqual({});
      });
    });

    describe("probe", () => {
      it("succeeds and leaves nothing behind", async () => {
        await write("c1/kept", Buffer.from("kept"));
        const rawBefore = await sortedRaw();
        await expect(driver.probe()).resolves.toBeUndefined();
        expect(await sortedRaw()).toEqual(rawBefore);
        expect((await driver.list("", { limit: 10 })).items.map((item) => item.key)).toEqual(["c1/kept"]);
      });
    });

    describe("temporaries", () => {
      it("leaves none once writes end, whether they succeeded or failed", async () => {
        await write("c1/done", Buffer.from("complete"));
        await expectDepotError(write("c1/done", Buffer.from("again")), "conflict");
        const source = new PassThrough();
        source.on("error", () => {});
        const writing = driver.write("c1/broken", source, { maxBytes: 1024 });
        source.write(Buffer.from("partial"));
        source.destroy(new Error("client went away"));
        await writing.catch(() => undefined);
        expect(await driver.listTemporaries()).toEqual([]);
      });

      it("refuses to delete a temporary whose name is not plain", async () => {
        for (const name of ["../c1/done", "a/b", ".hidden", ""])
          await expectDepotError(driver.deleteTemporary(name), "invalid_key");
      });
    });

    describe("resumable uploads", () => {
      const append = async (
        id: string,
        key: string,
        state: { backend: Record<string, unknown>; offset: number },
        source: Readable,
        length: number | null,
      ) => {
        const durable: Buffer[] = [];
        const result = await driver.resumable.append({
          id,
          key,
          backend: state.backend,
          offset: state.offset,
          length,
          source,
          onDurable: (chunk) => durable.push(Buffer.from(chunk)),
        });
        return { ...result, durable: Buffer.concat(durable) };
      };

      it("appends PATCH after PATCH (short ones too) and finishes into one object without a copy", async () => {
        const data = randomBytes(9 * MiB + 333);
        const cuts = [0, 100, 3 * MiB, 3 * MiB + 7, 9 * MiB + 333];
        const key = "c1/2026/01/resumable";
        let state = { backend: await driver.resumable.begin("up1", key), offset: 0 };
        const seen: Buffer[] = [];
        for (let i = 0; i + 1 < cuts.length; i++) {
          const result = await append("up1", key, state, sourceOf(data.subarray(cuts[i], cuts[i + 1])), data.length);
          expect(result.error).toBeUndefined();
          expect(result.offset).toBe(cuts[i + 1]);
          seen.push(result.durable);
          state = { backend: result.backend, offset: result.offset };
        }
        // onDurable saw every byte once, in order: the running sha256 can follow it.
        expect(sha256Of(Buffer.concat(seen))).toBe(sha256Of(data));
        expect(await driver.stat(key)).toBeNull();
        await driver.resumable.finish({ id: "up1", key, backend: state.backend, length: data.length });
        expect(sha256Of(await readAll(await driver.read(key)))).toBe(sha256Of(data));
        // A retried completion succeeds and changes nothing.
        await driver.resumable.finish({ id: "up1", key, backend: state.backend, length: data.length });
        expect((await driver.stat(key))?.size).toBe(data.length);
      });

      it("keeps the bytes before a source that failed midway, and the upload continues from there", async () => {
        const key = "c1/2026/01/interrupted";
        const begun = await driver.resumable.begin("up2", key);
        const first = generatedSource(2 * MiB + 5, "error");
        const result = await append("up2", key, { backend: begun, offset: 0 }, first.stream, 3 * MiB);
        expect(result.error).toBeDefined();
        expect(result.offset).toBe(2 * MiB + 5);
        expect(result.durable.length).toBe(2 * MiB + 5);
        const rest = randomBytes(3 * MiB - result.offset);
        const second = await append(
          "up2",
          key,
          { backend: result.backend, offset: result.offset },
          sourceOf(rest),
          3 * MiB,
        );
        expect(second.offset).toBe(3 * MiB);
        await driver.resumable.finish({ id: "up2", key, backend: second.backend, length: 3 * MiB });
        const stored = await readAll(await driver.read(key));
        expect(stored.subarray(result.offset).equals(rest)).toBe(true);
        expect(sha256Of(stored)).toBe(sha256Of(Buffer.concat([result.durable, rest])));
      });

      it("finishes a 0-byte upload, and discard leaves nothing behind", async () => {
        const key = "c1/2026/01/empty";
        const backend = await driver.resumable.begin("up3", key);
        await driver.resumable.finish({ id: "up3", key, backend, length: 0 });
        expect((await driver.stat(key))?.size).toBe(0);
        const gone = "c1/2026/01/discarded";
        const kept = await driver.resumable.begin("up4", gone);
        const partial = await append("up4", gone, { backend: kept, offset: 0 }, sourceOf(randomBytes(1000)), 5000);
        await driver.resumable.discard("up4", gone, partial.backend);
        expect(await driver.stat(gone)).toBeNull();
        expect((await sortedRaw()).filter((name) => name.includes("up4"))).toEqual([]);
      });
    });

    describe("invalid keys", () => {
      it.each(INVALID_KEYS)("refuses %j on write, read, stat and delete with invalid_key", async (key) => {
        await expectDepotError(write(key, Buffer.from("payload")), "invalid_key");
        await expectDepotError(driver.read(key), "invalid_key");
        await expectDepotError(driver.stat(key), "invalid_key");
        await expectDepotError(driver.delete(key), "invalid_key");
        expect(await sortedRaw()).toEqual([]);
      });
    });
  });
}
