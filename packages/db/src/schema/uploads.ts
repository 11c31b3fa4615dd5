import { bigint, index, jsonb, pgEnum, pgTable, text, timestamp, uuid } from "drizzle-orm/pg-core";
import { files } from "./files";

export const resumableStatus = pgEnum("resumable_status", ["active", "completed", "terminated"]);

/**
 * State of a resumable (tus) upload, the DataStore of @tus/server in the storage service. The bytes live on the
 * upload's disk (one file appended to on a local disk, multipart parts on S3) and the offset and the driver's own
 * state (`backend`: multipart id, parts) live here, so any storage replica can continue an upload and a restart
 * loses nothing acknowledged. Only the replica holding the upload's lock (an advisory lock) changes a row.
 */
export const resumableUploads = pgTable(
  "resumable_uploads",
  {
    id: text("id").primaryKey(),
    fileId: uuid("file_id")
      .notNull()
      .references(() => files.id, { onDelete: "cascade" }),
    disk: text("disk").notNull(),
    /** Null while the length is deferred (tus creation-defer-length). */
    length: bigint("length", { mode: "number" }),
    offset: bigint("offset", { mode: "number" }).notNull().default(0),
    status: resumableStatus("status").notNull().default("active"),
    metadata: jsonb("metadata").$type<Record<string, string | null>>().notNull().default({}),
    /** What the disk's driver needs to continue the upload (e.g. the S3 multipart upload id and its parts). */
    backend: jsonb("backend").$type<Record<string, unknown>>().notNull().default({}),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
    expiresAt: timestamp("expires_at", { withTimezone: true }).notNull(),
    completedAt: timestamp("completed_at", { withTimezone: true }),
  },
  (t) => [index("resumable_uploads_status_idx").on(t.status, t.updatedAt)],
);

export type ResumableUpload = typeof resumableUploads.$inferSelect;
