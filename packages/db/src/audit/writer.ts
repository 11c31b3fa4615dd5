import { hostname } from "node:os";
import { isUuid } from "@depot/contract";
import { metrics } from "@depot/telemetry";
import { sql } from "drizzle-orm";
import type { Queryable } from "../client";
import type { AuditOutcome, ServerRole } from "../schema";
import { canonicalContent, canonicalJson, type HashedContent } from "./canonical";

export interface AuditActor {
  userId?: string | null;
  ip?: string | null;
  userAgent?: string | null;
}

export interface AuditEntry {
  action: string;
  outcome: AuditOutcome;
  serverRole: ServerRole;
  requestId?: string | null;
  actor?: AuditActor;
  cohortId?: string | null;
  fileId?: string | null;
  disk?: string | null;
  storageKey?: string | null;
  bytes?: number | null;
  sha256?: string | null;
  error?: string | null;
  metadata?: Record<string, unknown>;
}

const uuidOrNull = (v: string | null | undefined) => (isUuid(v) ? v : null);
const clip = (v: string | null | undefined, max: number) => (v == null ? null : v.slice(0, max));

/**
 * Appends one hash-chained row to the PHI file tracking trail. Inside a caller's transaction the row
 * commits or rolls back with it, so a change and its audit row are never separated.
 */
export async function appendAudit(db: Queryable, entry: AuditEntry): Promise<{ id: bigint; rowHash: string }> {
  // jsonb drops undefined and reorders keys; store exactly what the hash covers.
  const metadata = JSON.parse(canonicalJson(entry.metadata ?? {})) as Record<string, unknown>;
  const content = {
    occurredAt: new Date(),
    action: entry.action,
    outcome: entry.outcome,
    serverRole: entry.serverRole,
    hostname: hostname(),
    requestId: clip(entry.requestId, 200),
    actorUserId: uuidOrNull(entry.actor?.userId),
    actorIp: clip(entry.actor?.ip, 100),
    actorUserAgent: clip(entry.actor?.userAgent, 500),
    cohortId: uuidOrNull(entry.cohortId),
    fileId: uuidOrNull(entry.fileId),
    disk: entry.disk ?? null,
    storageKey: clip(entry.storageKey, 1024),
    bytes: entry.bytes ?? null,
    sha256: entry.sha256 ?? null,
    error: clip(entry.error, 2000),
    metadata,
  } satisfies HashedContent;
  // The row under its column names, for jsonb_populate_record in the database's append function.
  const row = {
    occurred_at: content.occurredAt.toISOString(),
    action: content.action,
    outcome: content.outcome,
    server_role: content.serverRole,
    hostname: content.hostname,
    request_id: content.requestId,
    actor_user_id: content.actorUserId,
    actor_ip: content.actorIp,
    actor_user_agent: content.actorUserAgent,
    cohort_id: content.cohortId,
    file_id: content.fileId,
    disk: content.disk,
    storage_key: content.storageKey,
    bytes: content.bytes,
    sha256: content.sha256,
    error: content.error,
    metadata: content.metadata,
  };
  // One statement: the lock, the tail, the link and the insert happen inside the database (migration 0003).
  const timer = metrics.auditAppend.startTimer();
  const [appended] = await db
    .execute<{ id: string; row_hash: string }>(
      sql`select id, row_hash from phi_file_tracking_append(${JSON.stringify(row)}::jsonb, ${canonicalContent(content)})`,
    )
    .finally(() => timer());
  if (!appended) throw new Error("audit append returned no row");
  return { id: BigInt(appended.id), rowHash: appended.row_hash };
}
