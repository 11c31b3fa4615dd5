import { and, asc, desc, eq, gte, inArray, isNull, lte, ne, sql } from "drizzle-orm";
import type { Queryable } from "../client";
import { cohorts, type FileKind, type FileRow, files, resumableUploads, users } from "../schema";
import { COUNT_CAP, cappedCount } from "./audit";

export interface NewFile {
  id?: string;
  cohortId: string;
  uploaderId: string | null;
  originalName: string;
  contentType?: string;
  storageDisk: string;
  storageKey: string;
  kind: FileKind;
  expiresAt?: Date | null;
  uploadId?: string | null;
}

export async function createFileRecord(db: Queryable, input: NewFile): Promise<FileRow> {
  const [row] = await db.insert(files).values(input).returning();
  if (!row) throw new Error("file insert returned no row");
  return row;
}

export async function findFile(db: Queryable, id: string): Promise<FileRow | undefined> {
  const [row] = await db.select().from(files).where(eq(files.id, id)).limit(1);
  return row;
}

/**
 * Marks an uploading file stored; returns false when the row was not in the uploading state. A resumable upload
 * keeps its upload id, so the uploader may still ask about (HEAD) or end (DELETE) the finished upload.
 */
export async function markFileStored(
  db: Queryable,
  id: string,
  result: { size: number; sha256: string },
  options: { keepUploadId?: boolean } = {},
) {
  const rows = await db
    .update(files)
    .set({
      status: "stored",
      size: result.size,
      sha256: result.sha256,
      completedAt: new Date(),
      ...(options.keepUploadId ? {} : { uploadId: null }),
    })
    .where(and(eq(files.id, id), eq(files.status, "uploading")))
    .returning({ id: files.id });
  return rows.length === 1;
}

export async function markFileFailed(db: Queryable, id: string) {
  await db
    .update(files)
    .set({ status: "failed", uploadId: null })
    .where(and(eq(files.id, id), eq(files.status, "uploading")));
}

/**
 * Removes the row of an upload that never started: storage refused its creation, so no upload, object or byte
 * exists for it. Only an "uploading" row with no resumable upload goes; anything further along stays (and is
 * marked failed instead).
 */
export async function discardUnstartedFile(db: Queryable, id: string): Promise<boolean> {
  const removed = await db
    .delete(files)
    .where(
      and(
        eq(files.id, id),
        eq(files.status, "uploading"),
        sql`not exists (select 1 from ${resumableUploads} where ${resumableUploads.fileId} = ${files.id})`,
      ),
    )
    .returning({ id: files.id });
  return removed.length > 0;
}

/**
 * Marks a file deleted, conditionally: true only for the one caller that moved it there. Concurrent deletes of
 * one file wait on the row's lock and then find it already deleted, so exactly one of them goes on.
 */
export async function markFileDeleted(db: Queryable, id: string): Promise<boolean> {
  const rows = await db
    .update(files)
    .set({ status: "deleted", deletedAt: new Date(), uploadId: null })
    .where(and(eq(files.id, id), ne(files.status, "deleted")))
    .returning({ id: files.id });
  return rows.length === 1;
}

/** The file a resumable upload belongs to (while the upload is in progress or finished). */
export async function findFileByUploadId(db: Queryable, uploadId: string): Promise<FileRow | undefined> {
  const [row] = await db.select().from(files).where(eq(files.uploadId, uploadId)).limit(1);
  return row;
}

/** Ties an uploading file to its resumable upload; false when the file is not waiting for one. */
export async function claimFileForUpload(db: Queryable, id: string, uploadId: string): Promise<boolean> {
  const rows = await db
    .update(files)
    .set({ uploadId })
    .where(and(eq(files.id, id), eq(files.status, "uploading"), isNull(files.uploadId)))
    .returning({ id: files.id });
  return rows.length === 1;
}

export interface FileFilters {
  /** null means every cohort (administrators). */
  cohortIds: string[] | null;
  cohortId?: string;
  kind?: FileKind;
  status?: FileRow["status"];
  uploaderId?: string;
  from?: Date;
  to?: Date;
  sort?: "created" | "name" | "size";
  order?: "asc" | "desc";
  limit: number;
  offset: number;
}

export function fileConditions(f: FileFilters) {
  const conditions = [
    f.cohortIds
      ? inArray(files.cohortId, f.cohortIds.length ? f.cohortIds : ["00000000-0000-0000-0000-000000000000"])
      : undefined,
    f.cohortId ? eq(files.cohortId, f.cohortId) : undefined,
    f.kind ? eq(files.kind, f.kind) : undefined,
    f.status ? eq(files.status, f.status) : ne(files.status, "deleted"),
    f.uploaderId ? eq(files.uploaderId, f.uploaderId) : undefined,
    f.from ? gte(files.createdAt, f.from) : undefined,
    f.to ? lte(files.createdAt, f.to) : undefined,
  ].filter((c) => c !== undefined);
  return conditions.length ? and(...conditions) : undefined;
}

/** The query behind a page of the file list (newest first by default; an index on (created_at, id) serves it). */
export function fileListQuery(db: Queryable, f: FileFilters) {
  const column = { created: files.createdAt, name: files.originalName, size: files.size }[f.sort ?? "created"];
  return db
    .select({
      file: files,
      cohortName: cohorts.name,
      uploaderEmail: users.email,
    })
    .from(files)
    .innerJoin(cohorts, eq(cohorts.id, files.cohortId))
    .leftJoin(users, eq(users.id, files.uploaderId))
    .where(fileConditions(f))
    .orderBy(f.order === "asc" ? asc(column) : desc(column), f.order === "asc" ? asc(files.id) : desc(files.id))
    .limit(f.limit)
    .offset(f.offset);
}

/**
 * A page of the files matching the filters, and how many match: counted up to COUNT_CAP or just past the page,
 * whichever is more (`totalExact: false` beyond), so a page view never counts the whole table.
 */
export async function listFiles(db: Queryable, f: FileFilters) {
  const cap = Math.max(COUNT_CAP, f.offset + f.limit);
  const [rows, counted] = await Promise.all([fileListQuery(db, f), cappedCount(db, files, fileConditions(f), cap)]);
  return { rows, total: counted.total, totalExact: counted.exact };
}

/** The person's own recent files and their uploads still in progress (with the acknowledged offset). */
export function recentFilesOf(db: Queryable, userId: string, limit = 10) {
  return db
    .select({ file: files, cohortName: cohorts.name })
    .from(files)
    .innerJoin(cohorts, eq(cohorts.id, files.cohortId))
    .where(and(eq(files.uploaderId, userId), ne(files.status, "deleted")))
    .orderBy(desc(files.createdAt))
    .limit(limit);
}

export async function uploadsInProgressOf(db: Queryable, userId: string) {
  return db
    .select({
      fileId: files.id,
      name: files.originalName,
      cohortId: files.cohortId,
      cohortName: cohorts.name,
      kind: files.kind,
      length: resumableUploads.length,
      offset: resumableUploads.offset,
      updatedAt: resumableUploads.updatedAt,
    })
    .from(resumableUploads)
    .innerJoin(files, eq(files.id, resumableUploads.fileId))
    .innerJoin(cohorts, eq(cohorts.id, files.cohortId))
    .where(and(eq(files.uploaderId, userId), eq(resumableUploads.status, "active")))
    .orderBy(desc(resumableUploads.updatedAt));
}

/** Everyone who uploaded a file in these cohorts (null: every cohort), for the Files page's uploader list. */
export async function uploadersIn(db: Queryable, cohortIds: string[] | null) {
  if (cohortIds && cohortIds.length === 0) return [];
  return db
    .selectDistinct({ id: users.id, name: users.name, email: users.email })
    .from(files)
    .innerJoin(users, eq(users.id, files.uploaderId))
    .where(cohortIds ? inArray(files.cohortId, cohortIds) : undefined)
    .orderBy(asc(users.email));
}

/** Other stored files of the cohort with the same content (sha256), newest first. */
export async function duplicatesOf(db: Queryable, file: Pick<FileRow, "id" | "cohortId" | "sha256">, limit = 5) {
  if (!file.sha256) return [];
  return db
    .select({ id: files.id, name: files.originalName, createdAt: files.createdAt })
    .from(files)
    .where(
      and(
        eq(files.cohortId, file.cohortId),
        eq(files.sha256, file.sha256),
        eq(files.status, "stored"),
        ne(files.id, file.id),
      ),
    )
    .orderBy(desc(files.createdAt))
    .limit(limit);
}
