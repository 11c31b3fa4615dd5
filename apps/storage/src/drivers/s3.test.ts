import { randomUUID } from "node:crypto";
import { Readable } from "node:stream";
import {
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { DepotError } from "@depot/contract";
import { freePort } from "@depot/db/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { S3DiskConfig } from "./config";
import { runDriverConformance } from "./conformance";
import { createS3Client, S3Driver } from "./s3";
import { emptyUnder, listUnder, testS3, unfinishedUnder } from "./s3.testing";

const MiB = 1024 * 1024;
const s3 = testS3();
const BUCKET = s3.bucket;
/** Everything these tests write stays under this prefix, so they can run against a bucket that holds other data. */
const ROOT = s3.runPrefix;

let client: S3Client;

const diskConfig = (overrides: Partial<S3DiskConfig> = {}): S3DiskConfig => s3.disk({ prefix: ROOT, ...overrides });
const listBucket = () => listUnder(client, BUCKET, ROOT);
const emptyBucket = () => emptyUnder(client, BUCKET, ROOT);

beforeAll(() => {
  client = createS3Client(diskConfig());
});

afterAll(async () => {
  if (client) await emptyBucket();
  client?.destroy();
});

// listRaw counts unfinished multipart uploads too: no write may leave one behind.
runDriverConformance("s3", async () => {
  await emptyBucket();
  return { driver: new S3Driver(diskConfig(), client), listRaw: listBucket, cleanup: emptyBucket };
});

describe("s3 driver specifics", () => {
  it("stores objects under the configured prefix and ignores the rest of the bucket", async () => {
    await emptyBucket();
    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${ROOT}elsewhere/c1/x`, Body: "not ours" }));
    const driver = new S3Driver(diskConfig({ prefix: `${ROOT}depot/` }), client);
    const bytes = Buffer.from("stored under the prefix");
    const result = await driver.write("c1/x", Readable.from([bytes]), { maxBytes: 1024 });
    expect((await listBucket()).sort()).toEqual([`${ROOT}depot/c1/x`, `${ROOT}elsewhere/c1/x`]);
    expect((await driver.list("", { limit: 10 })).items.map((item) => item.key)).toEqual(["c1/x"]);
    const head = await client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: `${ROOT}depot/c1/x` }));
    expect(head.Metadata?.sha256).toBe(result.sha256);
    // The raw bytes, not aws-chunked framing around them.
    const raw = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: `${ROOT}depot/c1/x` }));
    expect(Buffer.from(await raw.Body!.transformToByteArray())).toEqual(bytes);
    await emptyBucket();
  });

  // An empty prefix means the whole bucket: only on the run's own gateway, never on a bucket someone else uses.
  it.skipIf(!s3.ownGateway)(
    "hides leftover temporary and probe objects from list and usage with an empty prefix",
    async () => {
      await emptyUnder(client, BUCKET, "");
      const driver = new S3Driver(diskConfig({ prefix: "" }), client);
      await driver.write("c1/kept", Readable.from([Buffer.from("kept")]), { maxBytes: 1024 });
      await driver.write("c2/also", Readable.from([Buffer.from("also")]), { maxBytes: 1024 });
      // Inside c1 they sort before c1/kept and fill whole S3 pages, so the listing must follow continuation tokens.
      const leftovers = [".tmp/crashed-upload", ".health/crashed-probe", "c1/.tmp/a", "c1/.tmp/b", "c1/.tmp/c"];
      for (const key of leftovers) {
        await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: "leftover" }));
      }
      const first = await driver.list("", { limit: 1 });
      expect(first).toMatchObject({ items: [{ key: "c1/kept", size: 4 }], nextCursor: "c1/kept" });
      const second = await driver.list("", { limit: 1, cursor: first.nextCursor ?? undefined });
      expect(second).toMatchObject({ items: [{ key: "c2/also", size: 4 }], nextCursor: null });
      expect((await driver.list("c1/", { limit: 1 })).items.map((item) => item.key)).toEqual(["c1/kept"]);
      expect((await driver.usage()).byPrefix).toEqual({ c1: { bytes: 4, files: 1 }, c2: { bytes: 4, files: 1 } });
      await emptyUnder(client, BUCKET, "");
    },
  );

  it("refuses to pass on other bytes than the range asked for", async () => {
    await emptyBucket();
    const bytes = Buffer.from(Array.from({ length: 5000 }, (_, index) => index % 251));
    await new S3Driver(diskConfig(), client).write("c1/ranged", Readable.from([bytes]), { maxBytes: 10_000 });
    // An endpoint (or a proxy in front of it) that drops Range answers 200 with the whole object.
    const rangeBlindClient = createS3Client(diskConfig());
    rangeBlindClient.middlewareStack.add(
      (next) => (args) => {
        const request = args.request as { headers?: Record<string, string> };
        if (request.headers) delete request.headers.range;
        return next(args);
      },
      { step: "build", name: "dropRange" },
    );
    try {
      const driver = new S3Driver(diskConfig(), rangeBlindClient);
      await expect(driver.read("c1/ranged", { start: 1000, end: 2999 })).rejects.toThrow(
        "S3 answered without Content-Range to bytes=1000-2999",
      );
      const chunks: Buffer[] = [];
      for await (const chunk of await new S3Driver(diskConfig(), client).read("c1/ranged", { start: 1000, end: 2999 }))
        chunks.push(chunk as Buffer);
      expect(Buffer.concat(chunks)).toEqual(bytes.subarray(1000, 3000));
    } finally {
      rangeBlindClient.destroy();
      await emptyBucket();
    }
  });

  it("aborts the multipart upload of a write that fails after parts were sent", async () => {
    await emptyBucket();
    const recordingClient = createS3Client(diskConfig());
    const sent: string[] = [];
    recordingClient.middlewareStack.add(
      (next, context) => (args) => {
        sent.push(String(context.commandName));
        return next(args);
      },
      { step: "initialize", name: "recordCommands" },
    );
    try {
      const driver = new S3Driver(diskConfig(), recordingClient);
      let produced = 0;
      const source = new Readable({
        read() {
          if (produced < 20 * MiB) {
            produced += MiB;
            this.push(Buffer.alloc(MiB, 7));
            return;
          }
          // Fail only once a part is on its way, so there is a multipart upload to abort.
          const startedAt = Date.now();
          const waitForPart = setInterval(() => {
            if (sent.includes("UploadPartCommand") || Date.now() - startedAt > 10_000) {
              clearInterval(waitForPart);
              this.destroy(new Error("the client went away"));
            }
          }, 5);
        },
      });
      await expect(driver.write("c1/multipart", source, { maxBytes: 100 * MiB })).rejects.toThrow(
        "the client went away",
      );
      expect(sent).toContain("CreateMultipartUploadCommand");
      expect(sent).toContain("AbortMultipartUploadCommand");
      expect(sent).not.toContain("CompleteMultipartUploadCommand");
      expect(sent).not.toContain("CopyObjectCommand");
      // Objects and unfinished multipart uploads alike.
      expect(await listBucket()).toEqual([]);
    } finally {
      recordingClient.destroy();
    }
  });

  it("lists the multipart upload a dead write left behind, and aborts it", async () => {
    await emptyBucket();
    const driver = new S3Driver(diskConfig(), client);
    // What a storage process killed mid-write leaves: a multipart upload of a temporary with a part in it.
    const tempKey = `${ROOT}.tmp/${randomUUID()}`;
    const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: tempKey }));
    await client.send(
      new UploadPartCommand({ Bucket: BUCKET, Key: tempKey, UploadId, PartNumber: 1, Body: Buffer.alloc(5 * MiB, 1) }),
    );
    const kept = await driver.write("c1/kept", Readable.from([Buffer.from("kept")]), { maxBytes: 1024 });
    const unfinished = await driver.listUnfinishedUploads();
    expect(unfinished).toEqual([
      { key: tempKey.slice(ROOT.length), uploadId: UploadId, initiatedAt: expect.any(Date), bytes: 5 * MiB },
    ]);
    expect(Math.abs(unfinished[0]!.initiatedAt.getTime() - Date.now())).toBeLessThan(60_000);
    await driver.abortUnfinishedUpload(unfinished[0]!);
    expect(await driver.listUnfinishedUploads()).toEqual([]);
    expect(await unfinishedUnder(client, BUCKET, ROOT)).toEqual([]);
    // Aborting one that is already gone is not an error: nothing is left, which was the point.
    await driver.abortUnfinishedUpload(unfinished[0]!);
    expect(await listBucket()).toEqual([`${ROOT}c1/kept`]);
    expect((await driver.stat("c1/kept"))?.size).toBe(kept.size);
    await emptyBucket();
  });

  describe("with the endpoint unreachable", () => {
    let unreachable: S3Client;
    let driver: S3Driver;

    beforeAll(async () => {
      const closedPort = await freePort();
      const config = diskConfig({ endpoint: `http://127.0.0.1:${closedPort}` });
      unreachable = createS3Client(config, {
        maxAttempts: 1,
        requestHandler: { connectionTimeout: 1000, socketTimeout: 2000 },
      });
      driver = new S3Driver(config, unreachable);
    });
    afterAll(() => {
      unreachable?.destroy();
    });

    const expectUnavailable = async (operation: Promise<unknown>) => {
      const startedAt = Date.now();
      const error = await operation.then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(error).toBeInstanceOf(DepotError);
      expect(error).toMatchObject({ code: "unavailable", message: "the S3 endpoint is unreachable" });
      expect(Date.now() - startedAt).toBeLessThan(5000);
    };

    it("fails a write quickly with unavailable", async () => {
      await expectUnavailable(driver.write("c1/x", Readable.from([Buffer.from("payload")]), { maxBytes: 1024 }));
    });

    it("fails reads, stat, delete, list, usage and probe with unavailable", async () => {
      await expectUnavailable(driver.read("c1/x"));
      await expectUnavailable(driver.stat("c1/x"));
      await expectUnavailable(driver.delete("c1/x"));
      await expectUnavailable(driver.list("c1/", { limit: 10 }));
      await expectUnavailable(driver.usage());
      await expectUnavailable(driver.probe());
    });
  });
});
