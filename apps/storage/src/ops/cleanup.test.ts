import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildStorageKey } from "@depot/contract";
import {
  appendAudit,
  createFileRecord,
  createResumableUpload,
  ensureCohort,
  type FileKind,
  files,
  findFile,
  findResumableUpload,
  resumableUploads,
} from "@depot/db";
import { eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startTestStorage } from "../test-server";
import { type Audit, runCleanup } from "./cleanup";

type Storage = Awaited<ReturnType<typeof startTestStorage>>;
const HOUR = 3600_000;
const DAYS_AGO = (days: number) => new Date(Date.now() - days * 24 * HOUR);

async function scenario(storage: Storage) {
  const { cohort } = await ensureCohort(storage.db, { name: `Cleanup ${randomUUID()}` });
  const audit: Audit = (entry, db = storage.db) =>
    appendAudit(db, { ...entry, serverRole: "services", requestId: "cleanup-test" });

  const place = (key: string, content: string, mtime: Date) => {
    const path = join(storage.root, key);
    mkdirSync(join(path, ".."), { recursive: true });
    writeFileSync(path, content);
    utimesSync(path, mtime, mtime);
  };
  /** A files row of this cohort (status uploading), its key dated `created`. */
  const fileRecord = (name: string, kind: FileKind, created = new Date(), expires: Date | null = null) => {
    const id = randomUUID();
    return createFileRecord(storage.db, {
      id,
      cohortId: cohort.id,
      uploaderId: null,
      originalName: name,
      storageDisk: "workspace",
      storageKey: buildStorageKey(cohort.id, id, created),
      kind,
      expiresAt: expires,
    });
  };
  const stored = async (kind: FileKind, created: Date, expires: Date | null) => {
    const row = await fileRecord(`${kind}.csv`, kind, created, expires);
    await storage.db
      .update(files)
      .set({ status: "stored", size: 4, sha256: "x", createdAt: created })
      .where(eq(files.id, row.id));
    place(row.storageKey, "data", created);
    return row;
  };

  const oldPrecheck = await stored("precheck", DAYS_AGO(5), DAYS_AGO(2));
  const recentPrecheck = await stored("precheck", new Date(Date.now() - 2 * HOUR), new Date(Date.now() + 70 * HOUR));
  const oldSubmission = await stored("submission", DAYS_AGO(30), null);
  const untrackedKey = `${cohort.id}/2020/01/${randomUUID()}`;
  place(untrackedKey, "orphan", DAYS_AGO(3));
  const youngUntrackedKey = `${cohort.id}/2026/01/${randomUUID()}`;
  place(youngUntrackedKey, "just written", new Date());
  place(".tmp/dead-write.part", "partial", DAYS_AGO(2));
  // Just written for a row that failed since (its storage process died before recording the object), and just
  // written for a row still uploading.
  const objectOf = async (status: "failed" | "uploading") => {
    const row = await fileRecord(`${status}.csv`, "submission");
    await storage.db.update(files).set({ status }).where(eq(files.id, row.id));
    place(row.storageKey, "written, never recorded", new Date());
    return row;
  };
  const failedUpload = await objectOf("failed");
  const uploading = await objectOf("uploading");

  // A resumable upload in progress (acknowledged an hour ago) and one abandoned three days ago.
  const resumable = async (updated: Date) => {
    const file = await fileRecord("big.csv", "submission");
    const uploadId = randomUUID().replaceAll("-", "");
    const { driver } = storage.disks.get("workspace");
    await driver.resumable.begin(uploadId, file.storageKey);
    await createResumableUpload(storage.db, {
      id: uploadId,
      fileId: file.id,
      disk: "workspace",
      length: 100,
      metadata: {},
      expiresAt: new Date(Date.now() + 24 * HOUR),
    });
    await storage.db
      .update(resumableUploads)
      .set({ offset: 10, updatedAt: updated })
      .where(eq(resumableUploads.id, uploadId));
    place(`.tus/${uploadId}`, "0123456789", updated);
    return { file, uploadId };
  };
  const active = await resumable(new Date(Date.now() - HOUR));
  const abandoned = await resumable(DAYS_AGO(3));
  return {
    audit,
    oldPrecheck,
    recentPrecheck,
    oldSubmission,
    untrackedKey,
    youngUntrackedKey,
    failedUpload,
    uploading,
    active,
    abandoned,
  };
}

let storage: Storage;
beforeAll(async () => {
  storage = await startTestStorage();
});
afterAll(async () => {
  await storage?.stop();
});

describe("cleanup", () => {
  test("--dry-run finds what a real run removes, and removes nothing", async () => {
    const s = await scenario(storage);
    const dry = await runCleanup(storage, { hours: 24, dryRun: true, audit: s.audit });
    expect(dry.ran).toBe(true);
    expect(dry.cleaned).toBe(0);
    expect(dry.items.every((i) => i.result === "would_remove")).toBe(true);
    expect(existsSync(join(storage.root, s.oldPrecheck.storageKey))).toBe(true);
    expect(existsSync(join(storage.root, s.untrackedKey))).toBe(true);
    expect((await findFile(storage.db, s.oldPrecheck.id))?.status).toBe("stored");

    const real = await runCleanup(storage, { hours: 24, dryRun: false, audit: s.audit });
    expect(real.items.map((i) => [i.category, i.key, i.result]).sort()).toEqual(
      dry.items.map((i) => [i.category, i.key, "removed"]).sort(),
    );
  });

  test("removes old prechecks, abandoned uploads, untracked and dead partials; keeps everything else", async () => {
    const s = await scenario(storage);
    const report = await runCleanup(storage, { hours: 24, dryRun: false, audit: s.audit });
    const removed = report.items.filter((i) => i.result === "removed").map((i) => `${i.category}:${i.key}`);
    expect(removed).toEqual(
      expect.arrayContaining([
        `expired_precheck:${s.oldPrecheck.storageKey}`,
        `abandoned_upload:tus:${s.abandoned.uploadId}`,
        `untracked_object:${s.untrackedKey}`,
        `untracked_object:${s.failedUpload.storageKey}`,
        "stale_temporary:.tmp/dead-write.part",
      ]),
    );
    expect(report.failed).toBe(0);

    expect(existsSync(join(storage.root, s.oldPrecheck.storageKey))).toBe(false);
    expect((await findFile(storage.db, s.oldPrecheck.id))?.status).toBe("deleted");
    expect(existsSync(join(storage.root, s.untrackedKey))).toBe(false);
    expect(existsSync(join(storage.root, ".tmp/dead-write.part"))).toBe(false);
    expect(existsSync(join(storage.root, `.tus/${s.abandoned.uploadId}`))).toBe(false);
    expect(await findResumableUpload(storage.db, s.abandoned.uploadId)).toMatchObject({ status: "terminated" });
    expect((await findFile(storage.db, s.abandoned.file.id))?.status).toBe("failed");

    // Kept: the recent precheck, the old submission, the young object no row names, the young object of a row still
    // uploading, the active upload. Removed however young: the object of a row that failed.
    expect(existsSync(join(storage.root, s.recentPrecheck.storageKey))).toBe(true);
    expect(existsSync(join(storage.root, s.oldSubmission.storageKey))).toBe(true);
    expect((await findFile(storage.db, s.oldSubmission.id))?.status).toBe("stored");
    expect(existsSync(join(storage.root, s.youngUntrackedKey))).toBe(true);
    expect(existsSync(join(storage.root, s.failedUpload.storageKey))).toBe(false);
    expect(existsSync(join(storage.root, s.uploading.storageKey))).toBe(true);
    expect(existsSync(join(storage.root, `.tus/${s.active.uploadId}`))).toBe(true);
    expect(await findResumableUpload(storage.db, s.active.uploadId)).toMatchObject({ status: "active", offset: 10 });

    const rows = await storage.db.execute<{ action: string; category: string; n: number }>(
      sql`select action, metadata->>'category' as category, count(*)::int as n from phi_file_tracking
          where request_id = 'cleanup-test' and outcome = 'success' and action = 'cleanup_deleted'
          and (file_id = ${s.oldPrecheck.id} or file_id = ${s.abandoned.file.id} or storage_key = ${s.untrackedKey})
          group by 1, 2 order by 2`,
    );
    expect(rows.map((r) => [r.category, r.n])).toEqual([
      ["abandoned_upload", 1],
      ["expired_precheck", 1],
      ["untracked_object", 1],
    ]);
  });

  test("two cleanups started at once do not both run", async () => {
    const s = await scenario(storage);
    const [a, b] = await Promise.all([
      runCleanup(storage, { hours: 24, dryRun: false, audit: s.audit }),
      runCleanup(storage, { hours: 24, dryRun: false, audit: s.audit }),
    ]);
    expect([a.ran, b.ran].sort()).toEqual([false, true]);
    const ran = a.ran ? a : b;
    expect(ran.cleaned).toBeGreaterThanOrEqual(4);
  });
});
