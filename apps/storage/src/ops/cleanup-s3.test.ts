import { randomUUID } from "node:crypto";
import { CreateMultipartUploadCommand, type S3Client, UploadPartCommand } from "@aws-sdk/client-s3";
import { buildStorageKey } from "@depot/contract";
import { appendAudit, createFileRecord, createResumableUpload, ensureCohort, resumableUploads } from "@depot/db";
import { eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createS3Client } from "../drivers/s3";
import { emptyUnder, listUnder, testS3 } from "../drivers/s3.testing";
import { startTestStorage } from "../test-server";
import { type Audit, runCleanup } from "./cleanup";

const MiB = 1024 * 1024;
const HOUR = 3600_000;
const s3 = testS3();
const ROOT = s3.runPrefix;
const disk = s3.disk({ prefix: ROOT });

let storage: Awaited<ReturnType<typeof startTestStorage>>;
let client: S3Client;
beforeAll(async () => {
  storage = await startTestStorage({ disks: { workspace: disk } });
  client = createS3Client(disk);
});
afterAll(async () => {
  if (client) await emptyUnder(client, s3.bucket, ROOT);
  client?.destroy();
  await storage?.stop();
});

/** A multipart upload with one 5 MiB part, as a write leaves it when its process dies. */
async function startedMultipart(key: string): Promise<string> {
  const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: s3.bucket, Key: ROOT + key }));
  await client.send(
    new UploadPartCommand({
      Bucket: s3.bucket,
      Key: ROOT + key,
      UploadId,
      PartNumber: 1,
      Body: Buffer.alloc(5 * MiB, 3),
    }),
  );
  return UploadId!;
}

describe("cleanup of unfinished multipart uploads", () => {
  test("aborts the old ones no live upload owns, audits each, and lists them on --dry-run", async () => {
    const audit: Audit = (entry, db = storage.db) =>
      appendAudit(db, { ...entry, serverRole: "services", requestId: "cleanup-s3-test" });
    // An active resumable upload owns the multipart upload at its file's key (the tus store writes parts there).
    const { cohort } = await ensureCohort(storage.db, { name: `Cleanup S3 ${randomUUID()}` });
    const fileId = randomUUID();
    await createFileRecord(storage.db, {
      id: fileId,
      cohortId: cohort.id,
      uploaderId: null,
      originalName: "live.csv",
      storageDisk: "workspace",
      storageKey: buildStorageKey(cohort.id, fileId),
      kind: "submission",
    });
    const liveId = randomUUID().replaceAll("-", "");
    await createResumableUpload(storage.db, {
      id: liveId,
      fileId,
      disk: "workspace",
      length: 100 * MiB,
      metadata: {},
      expiresAt: new Date(Date.now() + 24 * HOUR),
    });
    // Two days later, as far as the cleanup can tell; the resumable upload made progress just before then.
    const later = new Date(Date.now() + 48 * HOUR);
    await storage.db.update(resumableUploads).set({ updatedAt: later }).where(eq(resumableUploads.id, liveId));
    const deadKey = `.tmp/${randomUUID()}`;
    const deadUploadId = await startedMultipart(deadKey);
    const ownedKey = buildStorageKey(cohort.id, fileId);
    await startedMultipart(ownedKey);

    // Just begun: younger than --hours, so a write may still be running; nothing is touched.
    const young = await runCleanup(storage, { hours: 24, dryRun: false, audit });
    expect(young.items.filter((i) => i.category === "unfinished_multipart")).toEqual([]);

    const dry = await runCleanup(storage, { hours: 24, dryRun: true, audit, now: later });
    expect(dry.items).toEqual([
      {
        category: "unfinished_multipart",
        disk: "workspace",
        key: deadKey,
        bytes: 5 * MiB,
        ageHours: expect.closeTo(48, 0),
        result: "would_remove",
      },
    ]);
    expect((await listUnder(client, s3.bucket, ROOT)).sort()).toEqual(
      [`multipart:${ROOT}${deadKey}`, `multipart:${ROOT}${ownedKey}`].sort(),
    );

    const real = await runCleanup(storage, { hours: 24, dryRun: false, audit, now: later });
    expect(real.items.map((i) => [i.category, i.key, i.result])).toEqual([
      ["unfinished_multipart", deadKey, "removed"],
    ]);
    expect(await listUnder(client, s3.bucket, ROOT)).toEqual([`multipart:${ROOT}${ownedKey}`]);
    const rows = await storage.db.execute<{ key: string; upload: string; bytes: string }>(
      sql`select storage_key as key, metadata->>'uploadId' as upload, bytes::text from phi_file_tracking
          where request_id = 'cleanup-s3-test' and action = 'cleanup_deleted' and outcome = 'success'
          and metadata->>'category' = 'unfinished_multipart'`,
    );
    expect(rows.map((r) => ({ ...r }))).toEqual([{ key: deadKey, upload: deadUploadId, bytes: String(5 * MiB) }]);
  });
});
