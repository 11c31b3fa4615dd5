import { and, asc, count, desc, eq, gt, gte, lte, max, type SQL } from "drizzle-orm";
import type { Queryable } from "../client";
import { type AuditOutcome, type AuditRow, cohorts, phiFileTracking, users } from "../schema";

export interface AuditFilters {
  fileId?: string;
  cohortId?: string;
  /** The actor's user id. */
  userId?: string;
  action?: string;
  outcome?: AuditOutcome;
  /** Inclusive lower bound on occurred_at. */
  from?: Date;
  /** Inclusive upper bound on occurred_at. */
  to?: Date;
  requestId?: string;
}

/** One trail row with the actor's email and the cohort's name where they are still known. */
export interface AuditListRow extends AuditRow {
  actorEmail: string | null;
  cohortName: string | null;
}

function conditions(f: AuditFilters): SQL | undefined {
  const list = [
    f.fileId ? eq(phiFileTracking.fileId, f.fileId) : undefined,
    f.cohortId ? eq(phiFileTracking.cohortId, f.cohortId) : undefined,
    f.userId ? eq(phiFileTracking.actorUserId, f.userId) : undefined,
    f.action ? eq(phiFileTracking.action, f.action) : undefined,
    f.outcome ? eq(phiFileTracking.outcome, f.outcome) : undefined,
    f.from ? gte(phiFileTracking.occurredAt, f.from) : undefined,
    f.to ? lte(phiFileTracking.occurredAt, f.to) : undefined,
    f.requestId ? eq(phiFileTracking.requestId, f.requestId) : undefined,
  ].filter((c) => c !== undefined);
  return list.length ? and(...list) : undefined;
}

// The trail has no foreign keys (it outlives what it describes), so names are left-joined where they exist.
function selectWithNames(db: Queryable) {
  return db
    .select({ row: phiFileTracking, actorEmail: users.email, cohortName: cohorts.name })
    .from(phiFileTracking)
    .leftJoin(users, eq(users.id, phiFileTracking.actorUserId))
    .leftJoin(cohorts, eq(cohorts.id, phiFileTracking.cohortId));
}

const flatten = (r: { row: AuditRow; actorEmail: string | null; cohortName: string | null }): AuditListRow => ({
  ...r.row,
  actorEmail: r.actorEmail,
  cohortName: r.cohortName,
});

/** A page of the trail matching the filters, newest first, and how many rows match in all. */
export async function searchAudit(
  db: Queryable,
  filters: AuditFilters & { limit?: number; offset?: number },
): Promise<{ rows: AuditListRow[]; total: number }> {
  const where = conditions(filters);
  const [rows, [total]] = await Promise.all([
    selectWithNames(db)
      .where(where)
      .orderBy(desc(phiFileTracking.id))
      .limit(filters.limit ?? 50)
      .offset(filters.offset ?? 0),
    db.select({ n: count() }).from(phiFileTracking).where(where),
  ]);
  return { rows: rows.map(flatten), total: total?.n ?? 0 };
}

/**
 * Every row matching the filters, oldest first, read a page at a time by id (keyset, never OFFSET), so an
 * export holds one page in memory however long the trail is. Rows appended after the export began are
 * left out: the export is the trail as it stood when it started.
 */
export async function* auditRowsForExport(
  db: Queryable,
  filters: AuditFilters,
  options: { pageSize?: number } = {},
): AsyncGenerator<AuditListRow, void, undefined> {
  const pageSize = options.pageSize ?? 1000;
  const [top] = await db.select({ id: max(phiFileTracking.id) }).from(phiFileTracking);
  const last = top?.id;
  if (last == null) return;
  const upTo = BigInt(last);
  const where = conditions(filters);
  let after = 0n;
  for (;;) {
    const page = await selectWithNames(db)
      .where(and(where, gt(phiFileTracking.id, after), lte(phiFileTracking.id, upTo)))
      .orderBy(asc(phiFileTracking.id))
      .limit(pageSize);
    for (const r of page) yield flatten(r);
    const tail = page.at(-1);
    if (!tail || page.length < pageSize) return;
    after = tail.row.id;
  }
}

/** The newest row of the trail as an anchor (see verifyAuditChain), or null for an empty trail. */
export async function auditTail(db: Queryable): Promise<{ id: bigint; rowHash: string } | null> {
  const [row] = await db
    .select({ id: phiFileTracking.id, rowHash: phiFileTracking.rowHash })
    .from(phiFileTracking)
    .orderBy(desc(phiFileTracking.id))
    .limit(1);
  return row ?? null;
}
