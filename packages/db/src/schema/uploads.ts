import { bigint, index, jsonb, pgEnum, pgTable, text, timestamp, uuid } from "drizzle-orm/pg-core";
import { files } from "./files";

export const resumableStatus = pgEnum("resumable_status", ["active", "completed", "terminated"]);

/**
 * State of a resumable (tus) upload. Acknowledged bytes live as chunk objects on the upload's disk and the
 * offset lives here, so any storage replica can continue an upload and a restart loses nothing acknowledged.
 */
export const resumableUploads = pgTable(
  "resumable_uploads",
  {
    id: text("id").primaryKey(),
    fileId: uuid("file_id")
      .notNull()
      .references(() => files.id, { onDelete: "cascade" }),
    disk: text("disk").notNull(),
    length: bigint("length", { mode: "number" }).notNull(),
    offset: bigint("offset", { mode: "number" }).notNull().default(0),
    status: resumableStatus("status").notNull().default("active"),
    metadata: jsonb("metadata").$type<Record<string, string>>().notNull().default({}),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
    expiresAt: timestamp("expires_at", { withTimezone: true }).notNull(),
    completedAt: timestamp("completed_at", { withTimezone: true }),
  },
  (t) => [index("resumable_uploads_status_idx").on(t.status, t.updatedAt)],
);

export type ResumableUpload = typeof resumableUploads.$inferSelect;
