import {
  bigint,
  bigserial,
  boolean,
  index,
  integer,
  jsonb,
  pgEnum,
  pgTable,
  text,
  timestamp,
  uuid,
} from "drizzle-orm/pg-core";

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
    // Every filter of the audit page is read newest first by id: (column, id) lets a page stop after its rows.
    // A date range is read newest first by (occurred_at, id) instead, so the range itself is the index's key.
    index("phi_tracking_occurred_idx").on(t.occurredAt, t.id),
    index("phi_tracking_file_idx").on(t.fileId, t.id),
    index("phi_tracking_cohort_idx").on(t.cohortId, t.id),
    index("phi_tracking_request_idx").on(t.requestId, t.id),
    index("phi_tracking_actor_idx").on(t.actorUserId, t.id),
    index("phi_tracking_action_idx").on(t.action, t.id),
  ],
);

/**
 * One run of the audit chain's verification (the storage service's schedule or `pnpm audit:verify
 * --since-checkpoint`): where it started, the last row it found intact and its hash, and what it found. The next
 * run starts from the newest checkpoint whose MAC verifies. Append-only like the trail (triggers in the migration).
 */
export const auditCheckpoints = pgTable("audit_checkpoints", {
  id: bigserial("id", { mode: "bigint" }).primaryKey(),
  verifiedAt: timestamp("verified_at", { withTimezone: true, precision: 3 }).notNull(),
  /** The row the run started after (0: the whole chain from its first row). */
  startedAfterId: bigint("started_after_id", { mode: "bigint" }).notNull(),
  /** The newest row found intact (0 when none) and its hash: where the next run starts. */
  lastId: bigint("last_id", { mode: "bigint" }).notNull(),
  lastHash: text("last_hash").notNull(),
  /** Rows this run checked. */
  rows: bigint("rows", { mode: "number" }).notNull(),
  ok: boolean("ok").notNull(),
  problem: text("problem"),
  firstBadId: bigint("first_bad_id", { mode: "bigint" }),
  message: text("message"),
  durationMs: integer("duration_ms").notNull(),
  /** HMAC-SHA256 over the fields above, keyed outside the database (see audit/checkpoint.ts). */
  mac: text("mac").notNull(),
});

export type AuditCheckpoint = typeof auditCheckpoints.$inferSelect;

export type AuditRow = typeof phiFileTracking.$inferSelect;
export type AuditOutcome = (typeof auditOutcome.enumValues)[number];
export type ServerRole = (typeof serverRole.enumValues)[number];
