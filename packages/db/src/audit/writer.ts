import { hostname } from "node:os";
import { desc, sql } from "drizzle-orm";
import type { Queryable } from "../client";
import { type AuditOutcome, phiFileTracking, type ServerRole } from "../schema";
import { canonicalJson, GENESIS_HASH, type HashedContent, rowHash } from "./canonical";

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

// One chain for the whole table: every writer, in every process, takes this lock before reading the tail.
const CHAIN_LOCK = sql`select pg_advisory_xact_lock(hashtext('depot:phi_file_tracking'))`;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const uuidOrNull = (v: string | null | undefined) => (v && UUID.test(v) ? v : null);
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
  return db.transaction(async (tx) => {
    await tx.execute(CHAIN_LOCK);
    const [tail] = await tx
      .select({ rowHash: phiFileTracking.rowHash })
      .from(phiFileTracking)
      .orderBy(desc(phiFileTracking.id))
      .limit(1);
    const prevHash = tail?.rowHash ?? GENESIS_HASH;
    const hash = rowHash(prevHash, content);
    const [row] = await tx
      .insert(phiFileTracking)
      .values({ ...content, prevHash, rowHash: hash })
      .returning({ id: phiFileTracking.id });
    if (!row) throw new Error("audit insert returned no row");
    return { id: row.id, rowHash: hash };
  });
}
