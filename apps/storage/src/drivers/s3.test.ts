import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { DepotError } from "@depot/contract";
import { freePort } from "@depot/db/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { S3DiskConfig } from "./config";
import { runDriverConformance } from "./conformance";
import { createS3Client, S3Driver } from "./s3";
import { type RunningS3rver, s3rverDisk, startS3rver } from "./s3rver.testing";

const BUCKET = "depot-test";
const MiB = 1024 * 1024;

let s3rver: RunningS3rver;
let serverDirectory: string;
let client: S3Client;

const diskConfig = (overrides: Partial<S3DiskConfig> = {}): S3DiskConfig =>
  s3rverDisk(s3rver.endpoint, BUCKET, overrides);

async function listBucket(): Promise<string[]> {
  const keys: string[] = [];
  let continuationToken: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: BUCKET, ContinuationToken: continuationToken }));
    for (const object of page.Contents ?? []) if (object.Key) keys.push(object.Key);
    continuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (continuationToken);
  return keys;
}

async function emptyBucket(): Promise<void> {
  for (const key of await listBucket()) await client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key }));
}

beforeAll(async () => {
  serverDirectory = await mkdtemp(join(tmpdir(), "depot-s3rver-"));
  s3rver = await startS3rver({ directory: serverDirectory, bucket: BUCKET });
  client = createS3Client(diskConfig());
});

afterAll(async () => {
  client?.destroy();
  await s3rver?.close();
  if (serverDirectory) await rm(serverDirectory, { recursive: true, force: true });
});

runDriverConformance("s3", async () => {
  await emptyBucket();
  return { driver: new S3Driver(diskConfig(), client), listRaw: listBucket, cleanup: emptyBucket };
});

describe("s3 driver specifics", () => {
  it("stores objects under the configured prefix and ignores the rest of the bucket", async () => {
    await emptyBucket();
    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: "elsewhere/c1/x", Body: "not ours" }));
    const driver = new S3Driver(diskConfig({ prefix: "depot/" }), client);
    const bytes = Buffer.from("stored under the prefix");
    const result = await driver.write("c1/x", Readable.from([bytes]), { maxBytes: 1024 });
    expect((await listBucket()).sort()).toEqual(["depot/c1/x", "elsewhere/c1/x"]);
    expect((await driver.list("", { limit: 10 })).items.map((item) => item.key)).toEqual(["c1/x"]);
    const head = await client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: "depot/c1/x" }));
    expect(head.Metadata?.sha256).toBe(result.sha256);
    // The raw bytes, not aws-chunked framing around them.
    const raw = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: "depot/c1/x" }));
    expect(Buffer.from(await raw.Body!.transformToByteArray())).toEqual(bytes);
    await emptyBucket();
  });

  it("hides leftover temporary and probe objects from list and usage with an empty prefix", async () => {
    await emptyBucket();
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
    await emptyBucket();
  });

  it("reads the right bytes from a server that ignores Range", async () => {
    await emptyBucket();
    const bytes = Buffer.from(Array.from({ length: 5000 }, (_, index) => index % 251));
    await new S3Driver(diskConfig(), client).write("c1/ranged", Readable.from([bytes]), { maxBytes: 10_000 });
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
      const chunks: Buffer[] = [];
      for await (const chunk of await driver.read("c1/ranged", { start: 1000, end: 2999 }))
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
      expect(await listBucket()).toEqual([]);
    } finally {
      recordingClient.destroy();
    }
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
