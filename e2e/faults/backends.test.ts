import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateBucketCommand, GetObjectCommand, ListPartsCommand } from "@aws-sdk/client-s3";
import { HEADER } from "@depot/contract";
import { afterAll, describe, expect, test } from "vitest";
import { createS3Client } from "../../apps/storage/src/drivers/s3";
import { emptyUnder, listUnder, testS3, unfinishedUnder } from "../../apps/storage/src/drivers/s3.testing";
import { killGateway, startGateway } from "../../scripts/rgw";
import { controlledUpload, type FaultStack, startFaultStack } from "./harness";
import { expectNothingLost } from "./invariants";

const MiB = 1024 * 1024;

function multipart(stack: FaultStack, cookie: string, size: number, filename: string) {
  return controlledUpload({
    url: `${stack.webUrl}/api/uploads`,
    headers: { cookie },
    size,
    multipart: { fields: { cohortId: stack.cohortId, kind: "submission" }, filename },
  });
}

/**
 * A fault stack whose only disk is S3: a bucket of its own on the run's RADOS Gateway (faults/rgw.global-setup.ts),
 * whose gateway a test may kill and start again. Everything goes away after the describe block, and the gateway
 * is running again for the next one.
 */
function s3BackedStack() {
  const s3 = testS3();
  if (!s3.rgwDir || !s3.endpoint) throw new Error("the S3 fault cases need the run's own RADOS Gateway");
  const { rgwDir, endpoint } = s3;
  const bucket = `faults-${randomBytes(4).toString("hex")}`;
  const disk = s3.disk({ bucket, prefix: "depot/" });
  const client = createS3Client(disk);
  let gatewayDown = false;
  let stack: FaultStack | undefined;
  afterAll(async () => {
    if (gatewayDown) await startGateway(rgwDir, endpoint);
    await stack?.stop();
    await emptyUnder(client, bucket, "").catch(() => {});
    client.destroy();
  });
  return {
    bucket,
    client,
    /** Every object key of the bucket, and "multipart:" + key for each unfinished multipart upload. */
    contents: () => listUnder(client, bucket, ""),
    async start(env: { storage?: Record<string, string>; web?: Record<string, string> } = {}): Promise<FaultStack> {
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
      stack = await startFaultStack({
        storageEnv: { ...env.storage, STORAGE_CONFIG: JSON.stringify({ disks: { workspace: disk } }) },
        webEnv: env.web,
      });
      return stack;
    },
    async killS3() {
      gatewayDown = true;
      await killGateway(rgwDir);
    },
    async restartS3() {
      await startGateway(rgwDir, endpoint);
      gatewayDown = false;
    },
  };
}

describe("the S3 endpoint goes away mid-upload", () => {
  const s3 = s3BackedStack();

  test("503 with a clear message, nothing kept, and uploads work again when it is back", async () => {
    const stack = await s3.start();
    const cookie = await stack.signIn();

    const upload = multipart(stack, cookie, 80 * MiB, "s3-gone.csv");
    await upload.reached(30 * MiB);
    const goneAt = Date.now();
    await s3.killS3();
    const result = await upload.result;
    expect(result.status, result.body).toBe(503);
    expect(JSON.parse(result.body).error.code).toBe("unavailable");
    expect(result.at - goneAt).toBeLessThan(15_000);
    const [row] = await stack.sql<{ id: string; status: string; storage_key: string }[]>`
      select id::text, status, storage_key from files where original_name = 's3-gone.csv'`;
    expect(row?.status).toBe("failed");

    await s3.restartS3();
    const again = multipart(stack, cookie, 2 * MiB, "s3-back.csv");
    const ok = await again.result;
    expect(ok.status).toBe(201);
    expect(JSON.parse(ok.body).sha256).toBe(again.sha256());
    // The first upload's object never appeared. Its multipart upload could not be aborted while S3 was gone: it
    // stays until cleanup aborts it, and then only the second upload's object is left.
    const objects = await s3.contents();
    expect(objects.some((p) => p.includes(row!.storage_key))).toBe(false);
    const [stored, ...rest] = objects.filter((key) => !key.startsWith("multipart:"));
    expect(rest).toEqual([]);
    expect(stored).toMatch(/^depot\/[^.]/);
    expect(objects.filter((key) => key.startsWith("multipart:"))).toEqual([
      expect.stringMatching(/^multipart:depot\/\.tmp\//),
    ]);
    const report = (await stack.cleanupEverything()) as { failed: number };
    expect(report.failed).toBe(0);
    expect(await s3.contents()).toEqual([stored]);
  });
});

describe("a slow completion is not an idle connection", () => {
  const s3 = s3BackedStack();

  test("a tus upload whose completion on S3 outlasts the idle timeout completes, on both tiers", async () => {
    // One second without bytes closes a connection. Storage restarts before the last PATCH (a single byte), so the
    // process that completes the upload has no running hash and reads the 768 MiB object back from S3 to hash it:
    // longer than that second, while the client has sent everything and waits for the answer.
    const idle = { IDLE_TIMEOUT_SECONDS: "1" };
    // The bytes first: a kept-alive connection left idle for the idle timeout while they were made would be closed
    // by the web just as the next request went out on it.
    const data = randomBytes(768 * MiB + 1);
    const stack = await s3.start({ storage: idle, web: idle });
    const cookie = await stack.signIn();
    const tus = { "tus-resumable": "1.0.0", cookie };
    const created = await fetch(`${stack.webUrl}/api/uploads/tus/`, {
      method: "POST",
      headers: {
        ...tus,
        "upload-length": String(data.length),
        "upload-metadata": ["cohortId", "kind", "filename"]
          .map((k, i) => `${k} ${Buffer.from([stack.cohortId, "submission", "slow-join.csv"][i]!).toString("base64")}`)
          .join(","),
      },
    });
    expect(created.status).toBe(201);
    const location = `${stack.webUrl}${created.headers.get("location")}`;
    const chunk = 16 * MiB;
    let last: Response | undefined;
    let lastStarted = 0;
    for (let offset = 0; offset < data.length; offset += chunk) {
      if (offset + chunk >= data.length) {
        await stack.storage.kill();
        await stack.storage.start();
      }
      lastStarted = Date.now();
      last = await fetch(location, {
        method: "PATCH",
        headers: { ...tus, "upload-offset": String(offset), "content-type": "application/offset+octet-stream" },
        body: new Uint8Array(data.subarray(offset, offset + chunk)),
      });
      expect(last.status, await last.clone().text()).toBe(204);
    }
    const completionMs = Date.now() - lastStarted;
    expect(last?.headers.get("x-depot-sha256")).toBe(createHash("sha256").update(data).digest("hex"));
    // Only meaningful if the last PATCH (its chunk plus the completion) really outlasted the idle timeout.
    expect(completionMs).toBeGreaterThan(1_000);
    const [row] = await stack.sql<{ status: string }[]>`select status from files where original_name = 'slow-join.csv'`;
    expect(row?.status).toBe("stored");
  });
});

describe("storage killed in the middle of an S3 multipart write", () => {
  const s3 = s3BackedStack();

  test("leaves an unfinished multipart upload; cleanup lists it, aborts it, audits it and removes nothing else", async () => {
    const stack = await s3.start();
    const cookie = await stack.signIn();
    const kept = multipart(stack, cookie, 3 * MiB, "kept.csv");
    const keptResult = await kept.result;
    expect(keptResult.status, keptResult.body).toBe(201);
    const keptFile = JSON.parse(keptResult.body) as { id: string; sha256: string };
    const before = await s3.contents();
    expect(before).toHaveLength(1);

    // 8 MiB parts: kill storage once three of them are in S3.
    const upload = multipart(stack, cookie, 64 * MiB, "killed-mid-multipart.csv");
    const deadline = Date.now() + 60_000;
    let parts = 0;
    while (parts < 3 && Date.now() < deadline) {
      const [unfinished] = await unfinishedUnder(s3.client, s3.bucket, "");
      if (unfinished) {
        const listed = await s3.client.send(
          new ListPartsCommand({ Bucket: s3.bucket, Key: unfinished.key, UploadId: unfinished.uploadId }),
        );
        parts = listed.Parts?.length ?? 0;
      }
      if (parts < 3) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(parts).toBeGreaterThanOrEqual(3);
    await stack.storage.kill();
    expect((await upload.result).status).toBe(502);
    const leftover = (await s3.contents()).filter((key) => key.startsWith("multipart:"));
    expect(leftover).toHaveLength(1);
    expect(leftover[0]).toMatch(/^multipart:depot\/\.tmp\//);

    await stack.storage.start();
    const listed = (await fetch(`${stack.servicesUrl}/internal/storage/cleanup?hours=0&dry_run=1`, {
      method: "POST",
      headers: { [HEADER.apiKey]: stack.apiKey },
    }).then((res) => res.json())) as { items: { category: string; key: string; bytes: number; result: string }[] };
    const dryRunMultipart = listed.items.filter((item) => item.category === "unfinished_multipart");
    expect(dryRunMultipart).toHaveLength(1);
    expect(dryRunMultipart[0]).toMatchObject({
      result: "would_remove",
      key: leftover[0]!.slice("multipart:depot/".length),
    });
    expect(dryRunMultipart[0]!.bytes).toBeGreaterThanOrEqual(3 * 8 * MiB);
    expect((await s3.contents()).filter((key) => key.startsWith("multipart:"))).toHaveLength(1);

    const report = (await stack.cleanupEverything()) as {
      failed: number;
      items: { category: string; result: string }[];
    };
    expect(report.failed).toBe(0);
    expect(report.items.filter((item) => item.category === "unfinished_multipart")).toEqual([
      expect.objectContaining({ result: "removed" }),
    ]);
    expect(await unfinishedUnder(s3.client, s3.bucket, "")).toEqual([]);
    // Nothing else removed: the stored file's object is still there and reads back whole.
    expect(await s3.contents()).toEqual(before);
    const [keptRow] = await stack.sql<{ status: string; storage_key: string }[]>`
      select status, storage_key from files where id = ${keptFile.id}`;
    expect(keptRow?.status).toBe("stored");
    const object = await s3.client.send(
      new GetObjectCommand({ Bucket: s3.bucket, Key: `depot/${keptRow!.storage_key}` }),
    );
    const hash = createHash("sha256");
    for await (const chunk of object.Body as AsyncIterable<Buffer>) hash.update(chunk);
    expect(hash.digest("hex")).toBe(keptFile.sha256);
    const [audited] = await stack.sql<{ n: number }[]>`
      select count(*)::int as n from phi_file_tracking
      where action = 'cleanup_deleted' and outcome = 'success' and metadata->>'category' = 'unfinished_multipart'`;
    expect(audited?.n).toBe(1);
  });
});

function mountTmpfs(dir: string, size: string): string | null {
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir], { stdio: "pipe" });
    return null;
  } catch (error) {
    return (error as Error).message.split("\n")[0] ?? "mount failed";
  }
}

const tinyDisk = mkdtempSync(join(tmpdir(), "depot-faults-tiny-"));
chmodSync(tinyDisk, 0o755);
const mountProblem = mountTmpfs(tinyDisk, "24m");
if (mountProblem) console.warn(`disk-full fault case skipped: cannot mount a small tmpfs here (${mountProblem})`);

describe.skipIf(mountProblem !== null)("the disk fills up", () => {
  let stack: FaultStack | undefined;
  afterAll(async () => {
    await stack?.stop().catch(() => {});
    execFileSync("umount", [tinyDisk]);
    rmSync(tinyDisk, { recursive: true, force: true });
  });

  test("507, the partial removed, and the service keeps serving", async () => {
    stack = await startFaultStack({ storageRoot: tinyDisk });
    const cookie = await stack.signIn();
    const upload = multipart(stack, cookie, 60 * MiB, "too-big-for-disk.csv");
    const result = await upload.result;
    expect(result.status).toBe(507);
    expect(JSON.parse(result.body).error).toMatchObject({ code: "disk_full" });
    const small = multipart(stack, cookie, 1 * MiB, "still-fits.csv");
    const ok = await small.result;
    expect(ok.status).toBe(201);
    const body = JSON.parse(ok.body) as { id: string; sha256: string };
    expect(body.sha256).toBe(small.sha256());
    await expectNothingLost(stack, new Map([[body.id, body.sha256]]));
  });
});
