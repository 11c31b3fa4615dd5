import {
  type AuditEntry,
  abandonedUploads,
  type Database,
  expiredPrecheckFiles,
  fileStatusesOfKeys,
  markFileDeleted,
  markFileFailed,
  type Queryable,
  setResumableStatus,
  trackedKeys,
} from "@depot/db";
import { sql } from "drizzle-orm";
import type { Disks } from "../drivers";
import type { StorageDriver } from "../drivers/driver";

export type CleanupCategory =
  | "expired_precheck"
  | "abandoned_upload"
  | "untracked_object"
  | "stale_temporary"
  | "unfinished_multipart";

export interface CleanupItem {
  category: CleanupCategory;
  disk: string;
  key: string;
  fileId?: string;
  bytes: number;
  ageHours: number;
  result: "would_remove" | "removed" | "failed";
  error?: string;
}

export interface CleanupReport {
  /** False when another cleanup (this or another replica) was running; nothing was done then. */
  ran: boolean;
  dryRun: boolean;
  hours: number;
  startedAt: string;
  finishedAt: string;
  found: number;
  cleaned: number;
  failed: number;
  items: CleanupItem[];
}

export type Audit = (entry: Omit<AuditEntry, "serverRole" | "requestId" | "actor">, db?: Queryable) => Promise<unknown>;

const PAGE = 500;
const hoursSince = (date: Date, now: Date) => Math.round(((now.getTime() - date.getTime()) / 3600_000) * 10) / 10;

/**
 * Removes (a) precheck files past their expiry, (b) resumable uploads without progress for `hours`, (c) objects
 * no live file row knows, temporaries of dead writes and unfinished multipart uploads (S3), older than `hours`, and
 * at once the objects of rows that failed or were deleted. Stored submissions, other things younger than `hours` and
 * uploads in progress are never touched. One run at a time across every replica (advisory lock).
 */
export async function runCleanup(
  ctx: { db: Database; disks: Disks },
  options: { hours: number; dryRun: boolean; audit: Audit; now?: Date },
): Promise<CleanupReport> {
  const now = options.now ?? new Date();
  const cutoff = new Date(now.getTime() - options.hours * 3600_000);
  const report: CleanupReport = {
    ran: false,
    dryRun: options.dryRun,
    hours: options.hours,
    startedAt: now.toISOString(),
    finishedAt: now.toISOString(),
    found: 0,
    cleaned: 0,
    failed: 0,
    items: [],
  };

  await ctx.db.transaction(async (lockHolder) => {
    const [lock] = await lockHolder.execute<{ acquired: boolean }>(
      sql`select pg_try_advisory_xact_lock(hashtext('depot:cleanup')) as acquired`,
    );
    if (!lock?.acquired) return;
    report.ran = true;

    const act = async (item: Omit<CleanupItem, "result">, remove: () => Promise<void>) => {
      report.found++;
      if (options.dryRun) {
        report.items.push({ ...item, result: "would_remove" });
        return;
      }
      try {
        await remove();
        report.cleaned++;
        report.items.push({ ...item, result: "removed" });
      } catch (error) {
        report.failed++;
        const code = (error as { code?: string }).code ?? "error";
        report.items.push({ ...item, result: "failed", error: code });
        await options
          .audit({
            action: "cleanup_deleted",
            outcome: "failure",
            fileId: item.fileId,
            disk: item.disk,
            storageKey: item.key,
            error: code,
            metadata: { category: item.category },
          })
          .catch(() => {});
      }
    };

    for (const file of await expiredPrecheckFiles(ctx.db, { now, createdBefore: cutoff })) {
      const { driver, name } = ctx.disks.get(file.storageDisk);
      await act(
        {
          category: "expired_precheck",
          disk: name,
          key: file.storageKey,
          fileId: file.id,
          bytes: file.size ?? 0,
          ageHours: hoursSince(file.createdAt, now),
        },
        async () => {
          await driver.delete(file.storageKey);
          await ctx.db.transaction(async (tx) => {
            await markFileDeleted(tx, file.id);
            await options.audit(
              {
                action: "cleanup_deleted",
                outcome: "success",
                cohortId: file.cohortId,
                fileId: file.id,
                disk: name,
                storageKey: file.storageKey,
                bytes: file.size,
                metadata: { category: "expired_precheck", expiredAt: file.expiresAt?.toISOString() },
              },
              tx,
            );
          });
        },
      );
    }

    for (const { upload, file } of await abandonedUploads(ctx.db, cutoff)) {
      const { driver, name } = ctx.disks.get(upload.disk);
      await act(
        {
          category: "abandoned_upload",
          disk: name,
          key: `tus:${upload.id}`,
          fileId: file.id,
          bytes: upload.offset,
          ageHours: hoursSince(upload.updatedAt, now),
        },
        async () => {
          await ctx.db.transaction(async (tx) => {
            // The upload's tus lock (PgLocker takes the same key): a request still writing to it keeps it.
            const [lock] = await tx.execute<{ acquired: boolean }>(
              sql`select pg_try_advisory_xact_lock(hashtextextended(${`depot:tus:${upload.id}`}, 0)) as acquired`,
            );
            if (!lock?.acquired) throw Object.assign(new Error("upload in use"), { code: "in_use" });
            await driver.resumable.discard(upload.id, file.storageKey, upload.backend);
            await setResumableStatus(tx, upload.id, "terminated");
            await markFileFailed(tx, file.id);
            await options.audit(
              {
                action: "cleanup_deleted",
                outcome: "success",
                cohortId: file.cohortId,
                fileId: file.id,
                disk: name,
                storageKey: file.storageKey,
                bytes: upload.offset,
                metadata: { category: "abandoned_upload", uploadId: upload.id },
              },
              tx,
            );
          });
        },
      );
    }

    for (const name of ctx.disks.names()) {
      const { driver } = ctx.disks.get(name);
      for (const untracked of await untrackedObjects(ctx.db, name, driver, cutoff)) {
        await act(
          {
            category: "untracked_object",
            disk: name,
            key: untracked.key,
            bytes: untracked.size,
            ageHours: hoursSince(untracked.modifiedAt, now),
          },
          async () => {
            await driver.delete(untracked.key);
            await options.audit({
              action: "cleanup_deleted",
              outcome: "success",
              disk: name,
              storageKey: untracked.key,
              bytes: untracked.size,
              metadata: { category: "untracked_object" },
            });
          },
        );
      }
      for (const temporary of await driver.listTemporaries()) {
        if (temporary.modifiedAt >= cutoff) continue;
        await act(
          {
            category: "stale_temporary",
            disk: name,
            key: `.tmp/${temporary.key}`,
            bytes: temporary.size,
            ageHours: hoursSince(temporary.modifiedAt, now),
          },
          async () => {
            await driver.deleteTemporary(temporary.key);
            await options.audit({
              action: "cleanup_deleted",
              outcome: "success",
              disk: name,
              storageKey: `.tmp/${temporary.key}`,
              bytes: temporary.size,
              metadata: { category: "stale_temporary" },
            });
          },
        );
      }
      for (const upload of await unownedMultipartUploads(ctx.db, name, driver, cutoff)) {
        await act(
          {
            category: "unfinished_multipart",
            disk: name,
            key: upload.key,
            bytes: upload.bytes,
            ageHours: hoursSince(upload.initiatedAt, now),
          },
          async () => {
            await driver.abortUnfinishedUpload!(upload);
            await options.audit({
              action: "cleanup_deleted",
              outcome: "success",
              disk: name,
              storageKey: upload.key,
              bytes: upload.bytes,
              metadata: { category: "unfinished_multipart", uploadId: upload.uploadId },
            });
          },
        );
      }
    }

    report.finishedAt = new Date().toISOString();
    await options.audit({
      action: "cleanup_run",
      outcome: report.failed === 0 ? "success" : "failure",
      metadata: {
        dryRun: options.dryRun,
        hours: options.hours,
        found: report.found,
        cleaned: report.cleaned,
        failed: report.failed,
      },
    });
  });
  return report;
}

/**
 * Multipart uploads begun before `cutoff` that no live file row points at: a write's temporary (".tmp/...") whose
 * process died, or the parts of a resumable upload whose file is gone. A write still running began after the
 * cutoff (writes take minutes, `hours` is at least hours); a resumable upload in progress writes its parts at its
 * file's key, which its "uploading" row accounts for, and it is removed as abandoned by its row instead.
 */
export async function unownedMultipartUploads(db: Database, disk: string, driver: StorageDriver, cutoff: Date) {
  if (!driver.listUnfinishedUploads || !driver.abortUnfinishedUpload) return [];
  const old = (await driver.listUnfinishedUploads()).filter((upload) => upload.initiatedAt < cutoff);
  const owned = await trackedKeys(db, disk, [...new Set(old.map((upload) => upload.key))]);
  return old.filter((upload) => !owned.has(upload.key));
}

/**
 * Objects older than `cutoff` that no live file row accounts for. Unfinished resumable uploads are not objects
 * (a hidden file on a local disk, a multipart upload on S3); their rows say when they are abandoned.
 */
/**
 * Objects no live files row (uploading or stored) points at. With `cutoff`, only those older than it, except objects
 * of a row that failed or was deleted: that row is final and its key its own, so nothing can still be writing there
 * that will be kept (a storage process killed between writing an object and recording it leaves one).
 */
export async function untrackedObjects(db: Database, disk: string, driver: StorageDriver, cutoff?: Date) {
  const found: { key: string; size: number; modifiedAt: Date }[] = [];
  let cursor: string | undefined;
  do {
    const page = await driver.list("", { limit: PAGE, cursor });
    const statuses = await fileStatusesOfKeys(
      db,
      disk,
      page.items.map((i) => i.key),
    );
    for (const item of page.items) {
      const status = statuses.get(item.key);
      if (status === "uploading" || status === "stored") continue;
      const ended = status === "failed" || status === "deleted";
      if (!cutoff || ended || item.modifiedAt < cutoff) found.push(item);
    }
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return found;
}
