import { and, eq, sql } from "drizzle-orm";
import type { Queryable } from "../client";
import { type ResumableUpload, resumableUploads } from "../schema";

export async function createResumableUpload(
  db: Queryable,
  input: {
    id: string;
    fileId: string;
    disk: string;
    length: number;
    metadata: Record<string, string>;
    expiresAt: Date;
  },
): Promise<ResumableUpload> {
  const [row] = await db.insert(resumableUploads).values(input).returning();
  if (!row) throw new Error("upload insert returned no row");
  return row;
}

export async function findResumableUpload(db: Queryable, id: string): Promise<ResumableUpload | undefined> {
  const [row] = await db.select().from(resumableUploads).where(eq(resumableUploads.id, id)).limit(1);
  return row;
}

/** Moves the offset forward only from the offset the writer saw; false means someone else moved it. */
export async function advanceResumableOffset(
  db: Queryable,
  input: { id: string; from: number; to: number; expiresAt: Date },
): Promise<boolean> {
  const rows = await db
    .update(resumableUploads)
    .set({ offset: input.to, updatedAt: sql`now()`, expiresAt: input.expiresAt })
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

export async function setResumableStatus(db: Queryable, id: string, status: "completed" | "terminated") {
  await db
    .update(resumableUploads)
    .set({ status, updatedAt: sql`now()`, completedAt: status === "completed" ? sql`now()` : null })
    .where(eq(resumableUploads.id, id));
}
