import { bigint, index, pgEnum, pgTable, text, timestamp, uniqueIndex, uuid } from "drizzle-orm/pg-core";
import { cohorts } from "./cohorts";
import { users } from "./users";

/** precheck files are temporary and expire; submission files are kept. */
export const fileKind = pgEnum("file_kind", ["precheck", "submission"]);
export const fileStatus = pgEnum("file_status", ["uploading", "stored", "failed", "deleted"]);

export const files = pgTable(
  "files",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    cohortId: uuid("cohort_id")
      .notNull()
      .references(() => cohorts.id, { onDelete: "restrict" }),
    uploaderId: uuid("uploader_id").references(() => users.id, { onDelete: "set null" }),
    originalName: text("original_name").notNull(),
    contentType: text("content_type").notNull().default("application/octet-stream"),
    size: bigint("size", { mode: "number" }),
    sha256: text("sha256"),
    storageDisk: text("storage_disk").notNull(),
    storageKey: text("storage_key").notNull(),
    kind: fileKind("kind").notNull(),
    status: fileStatus("status").notNull().default("uploading"),
    /** tus upload id while a resumable upload is in progress. */
    uploadId: text("upload_id"),
    expiresAt: timestamp("expires_at", { withTimezone: true }),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    completedAt: timestamp("completed_at", { withTimezone: true }),
    deletedAt: timestamp("deleted_at", { withTimezone: true }),
  },
  (t) => [
    uniqueIndex("files_disk_key_key").on(t.storageDisk, t.storageKey),
    uniqueIndex("files_upload_id_key").on(t.uploadId),
    // The file list is read newest first with the id as tie-breaker: an index in that order serves any page.
    index("files_created_idx").on(t.createdAt, t.id),
    index("files_cohort_idx").on(t.cohortId, t.createdAt, t.id),
    index("files_uploader_idx").on(t.uploaderId, t.createdAt, t.id),
    index("files_status_idx").on(t.status, t.kind),
  ],
);

export type FileRow = typeof files.$inferSelect;
export type FileKind = (typeof fileKind.enumValues)[number];
export type FileStatus = (typeof fileStatus.enumValues)[number];
