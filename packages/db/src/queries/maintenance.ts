import { and, desc, eq, inArray, isNotNull, lt, ne, sql } from "drizzle-orm";
import type { Queryable } from "../client";
import { type FileStatus, files, phiFileTracking, resumableUploads } from "../schema";

/** Precheck files whose retention ran out and that are older than `createdBefore`; never submissions. */
export async function expiredPrecheckFiles(db: Queryable, input: { now: Date; createdBefore: Date }) {
  return db
    .select()
    .from(files)
    .where(
      and(
        eq(files.kind, "precheck"),
        ne(files.status, "deleted"),
        ne(files.status, "uploading"),
        isNotNull(files.expiresAt),
        lt(files.expiresAt, input.now),
        lt(files.createdAt, input.createdBefore),
      ),
    );
}

/** Resumable uploads that made no progress since `updatedBefore`. */
export async function abandonedUploads(db: Queryable, updatedBefore: Date) {
  return db
    .select({ upload: resumableUploads, file: files })
    .from(resumableUploads)
    .innerJoin(files, eq(files.id, resumableUploads.fileId))
    .where(and(eq(resumableUploads.status, "active"), lt(resumableUploads.updatedAt, updatedBefore)));
}

/** Of `keys` on `disk`, those a live files row (uploading or stored) points at. */
export async function trackedKeys(db: Queryable, disk: string, keys: string[]): Promise<Set<string>> {
  const statuses = await fileStatusesOfKeys(db, disk, keys);
  return new Set(
    [...statuses].filter(([, status]) => status === "uploading" || status === "stored").map(([key]) => key),
  );
}

/** The status of the files row each of `keys` on `disk` belongs to (keys no row names are absent). */
export async function fileStatusesOfKeys(
  db: Queryable,
  disk: string,
  keys: string[],
): Promise<Map<string, FileStatus>> {
  if (keys.length === 0) return new Map();
  const rows = await db
    .select({ key: files.storageKey, status: files.status })
    .from(files)
    .where(and(eq(files.storageDisk, disk), inArray(files.storageKey, keys)));
  return new Map(rows.map((r) => [r.key, r.status]));
}

/** Stored files, in pages by id, optionally of one cohort: what the integrity check walks. */
export async function storedFilesPage(db: Queryable, input: { afterId?: string; cohortId?: string; limit: number }) {
  return db
    .select()
    .from(files)
    .where(
      and(
        eq(files.status, "stored"),
        input.cohortId ? eq(files.cohortId, input.cohortId) : undefined,
        input.afterId ? sql`${files.id} > ${input.afterId}` : undefined,
      ),
    )
    .orderBy(files.id)
    .limit(input.limit);
}

/** The latest cleanup or integrity runs, from the audit trail they leave. */
export function lastMaintenanceRuns(db: Queryable, action: "cleanup_run" | "integrity_check", limit = 3) {
  return db
    .select({
      occurredAt: phiFileTracking.occurredAt,
      outcome: phiFileTracking.outcome,
      metadata: phiFileTracking.metadata,
    })
    .from(phiFileTracking)
    .where(eq(phiFileTracking.action, action))
    .orderBy(desc(phiFileTracking.id))
    .limit(limit);
}
