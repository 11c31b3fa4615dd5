import { and, eq } from "drizzle-orm";
import type { Queryable } from "../client";
import { type FileKind, type FileRow, files } from "../schema";

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

/** Marks an uploading file stored; returns false when the row was not in the uploading state. */
export async function markFileStored(db: Queryable, id: string, result: { size: number; sha256: string }) {
  const rows = await db
    .update(files)
    .set({ status: "stored", size: result.size, sha256: result.sha256, completedAt: new Date(), uploadId: null })
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

export async function markFileDeleted(db: Queryable, id: string) {
  await db.update(files).set({ status: "deleted", deletedAt: new Date(), uploadId: null }).where(eq(files.id, id));
}

export async function setFileUploadId(db: Queryable, id: string, uploadId: string) {
  await db.update(files).set({ uploadId }).where(eq(files.id, id));
}
