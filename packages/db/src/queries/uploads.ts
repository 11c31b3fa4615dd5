import { and, eq, getTableColumns, isNull, sql } from "drizzle-orm";
import type { Queryable } from "../client";
import { files, type ResumableUpload, resumableUploads } from "../schema";

export async function createResumableUpload(
  db: Queryable,
  input: {
    id: string;
    fileId: string;
    disk: string;
    length: number | null;
    metadata: Record<string, string | null>;
    backend?: Record<string, unknown>;
    expiresAt: Date;
  },
): Promise<ResumableUpload> {
  const [row] = await db.insert(resumableUploads).values(input).returning();
  if (!row) throw new Error("upload insert returned no row");
  return row;
}

/** An upload's row with its file's storage key: what every PATCH needs, in one round trip. */
export type ResumableUploadWithKey = ResumableUpload & { storageKey: string };

export async function findResumableUpload(db: Queryable, id: string): Promise<ResumableUploadWithKey | undefined> {
  const [row] = await db
    .select({ ...getTableColumns(resumableUploads), storageKey: files.storageKey })
    .from(resumableUploads)
    .innerJoin(files, eq(files.id, resumableUploads.fileId))
    .where(eq(resumableUploads.id, id))
    .limit(1);
  return row;
}

/**
 * Records the bytes a PATCH left (and the driver's state for them). Only the holder of the upload's lock calls it;
 * the offset must still be the one it started from, so even a writer that lost its lock cannot move it.
 */
export async function recordResumableProgress(
  db: Queryable,
  input: { id: string; from: number; to: number; backend: Record<string, unknown>; expiresAt: Date },
): Promise<boolean> {
  const rows = await db
    .update(resumableUploads)
    .set({ offset: input.to, backend: input.backend, updatedAt: sql`now()`, expiresAt: input.expiresAt })
    .where(
      and(
        eq(resumableUploads.id, input.id),
        eq(resumableUploads.offset, input.from),
        eq(resumableUploads.status, "active"),
      ),
    )
    .returning({ id: resumableUploads.id });
  return rows.length === 1;
}

/** tus creation-defer-length: the length is set once. */
export async function declareResumableLength(db: Queryable, id: string, length: number): Promise<boolean> {
  const rows = await db
    .update(resumableUploads)
    .set({ length, updatedAt: sql`now()` })
    .where(and(eq(resumableUploads.id, id), isNull(resumableUploads.length), eq(resumableUploads.status, "active")))
    .returning({ id: resumableUploads.id });
  return rows.length === 1;
}

export async function setResumableStatus(db: Queryable, id: string, status: "completed" | "terminated") {
  await db
    .update(resumableUploads)
    .set({ status, updatedAt: sql`now()`, completedAt: status === "completed" ? sql`now()` : null })
    .where(eq(resumableUploads.id, id));
}
