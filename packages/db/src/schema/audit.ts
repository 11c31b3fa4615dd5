import { bigint, bigserial, index, jsonb, pgEnum, pgTable, text, timestamp, uuid } from "drizzle-orm/pg-core";

export const auditOutcome = pgEnum("audit_outcome", ["success", "failure", "denied"]);
export const serverRole = pgEnum("server_role", ["web", "services", "cli"]);

/**
 * The PHI file tracking trail. Deliberately without foreign keys: it must outlive the users,
 * cohorts and files it describes. Append-only (triggers in a custom migration) and hash-chained.
 */
export const phiFileTracking = pgTable(
  "phi_file_tracking",
  {
    id: bigserial("id", { mode: "bigint" }).primaryKey(),
    occurredAt: timestamp("occurred_at", { withTimezone: true, precision: 3 }).notNull(),
    action: text("action").notNull(),
    outcome: auditOutcome("outcome").notNull(),
    serverRole: serverRole("server_role").notNull(),
    hostname: text("hostname").notNull(),
    requestId: text("request_id"),
    actorUserId: uuid("actor_user_id"),
    actorIp: text("actor_ip"),
    actorUserAgent: text("actor_user_agent"),
    cohortId: uuid("cohort_id"),
    fileId: uuid("file_id"),
    disk: text("disk"),
    storageKey: text("storage_key"),
    bytes: bigint("bytes", { mode: "number" }),
    sha256: text("sha256"),
    error: text("error"),
    metadata: jsonb("metadata").$type<Record<string, unknown>>().notNull().default({}),
    prevHash: text("prev_hash").notNull(),
    rowHash: text("row_hash").notNull(),
  },
  (t) => [
    index("phi_tracking_occurred_idx").on(t.occurredAt),
    index("phi_tracking_file_idx").on(t.fileId),
    index("phi_tracking_cohort_idx").on(t.cohortId),
    index("phi_tracking_request_idx").on(t.requestId),
    index("phi_tracking_actor_idx").on(t.actorUserId),
  ],
);

export type AuditRow = typeof phiFileTracking.$inferSelect;
export type AuditOutcome = (typeof auditOutcome.enumValues)[number];
export type ServerRole = (typeof serverRole.enumValues)[number];
