import { and, asc, count, desc, eq, gt, gte, lt, lte, type SQL, sql } from "drizzle-orm";
import type { PgTable } from "drizzle-orm/pg-core";
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

/** Counts stop here: a page never counts a whole large table; past it the total is "at least". */
export const COUNT_CAP = 10_000;

/**
 * How many rows `where` matches, counting at most `cap` + 1 of them: exact below the cap, `exact: false` above it.
 * The subquery stops at the cap, so the cost is bounded whatever the table's size.
 */
export async function cappedCount(
  db: Queryable,
  table: PgTable,
  where: SQL | undefined,
  cap = COUNT_CAP,
): Promise<{ total: number; exact: boolean }> {
  const [row] = await cappedCountQuery(db, table, where, cap);
  const n = row?.n ?? 0;
  return n > cap ? { total: cap, exact: false } : { total: n, exact: true };
}

/** The statement behind cappedCount. */
export function cappedCountQuery(db: Queryable, table: PgTable, where: SQL | undefined, cap = COUNT_CAP) {
  const matching = db
    .select({ one: sql<number>`1`.as("one") })
    .from(table)
    .where(where)
    .limit(cap + 1)
    .as("matching");
  return db.select({ n: count() }).from(matching);
}

/** The conditions of the audit filters, for cappedCountQuery. */
export const auditConditions = conditions;

export interface AuditPage {
  rows: AuditListRow[];
  /** Rows matching the filters, counted up to COUNT_CAP. */
  total: number;
  /** False when more than COUNT_CAP rows match (total is then COUNT_CAP). */
  totalExact: boolean;
  /** Whether rows older than this page match (a next page with `before` = the last row's id). */
  hasOlder: boolean;
  /** Whether rows newer than this page match (a previous page with `after` = the first row's id). */
  hasNewer: boolean;
}

export type AuditPageQuery = AuditFilters & {
  limit?: number;
  /** Rows to skip (page numbers); the pages themselves link by id with before / after. */
  offset?: number;
  /** Keyset: rows older than this id (the next page). */
  before?: bigint;
  /** Keyset: rows newer than this id (the previous page), still shown newest first. */
  after?: bigint;
};

/**
 * The query behind a page of the trail, newest first (older first with `after`, reversed by searchAudit). With a date
 * range the order is (occurred_at, id): the range is then a slice of phi_tracking_occurred_idx and a page stops after
 * its rows, where ordering by id alone has the planner walk the primary key back through every newer row (ids and
 * times rise together, which its statistics do not know). `before` / `after` are still row ids: the page goes on from
 * that row's place in the order.
 */
export function auditPageQuery(db: Queryable, q: AuditPageQuery, extra = 1) {
  const byTime = q.from !== undefined || q.to !== undefined;
  const newerFirst = !(q.after !== undefined && q.before === undefined);
  const where = and(conditions(q), keysetBound(q.before, "<", byTime), keysetBound(q.after, ">", byTime));
  const direction = newerFirst ? desc : asc;
  const order = byTime
    ? [direction(phiFileTracking.occurredAt), direction(phiFileTracking.id)]
    : [direction(phiFileTracking.id)];
  return selectWithNames(db)
    .where(where)
    .orderBy(...order)
    .limit((q.limit ?? 50) + extra)
    .offset(q.offset ?? 0);
}

/** Rows before or after row `id` in the page's order: by id, or by (occurred_at, id) when the page is by time. */
function keysetBound(id: bigint | undefined, op: "<" | ">", byTime: boolean): SQL | undefined {
  if (id === undefined) return undefined;
  if (!byTime) return op === "<" ? lt(phiFileTracking.id, id) : gt(phiFileTracking.id, id);
  const row = sql`(select k.occurred_at, k.id from ${phiFileTracking} k where k.id = ${id})`;
  return sql`(${phiFileTracking.occurredAt}, ${phiFileTracking.id}) ${sql.raw(op)} ${row}`;
}

/**
 * A page of the trail matching the filters, newest first, and how many rows match (up to COUNT_CAP). Every filter
 * has an index on (column, id), so a page reads its own rows and stops; `before` / `after` page by id (keyset), so a
 * page deep in the trail costs what the first one does.
 */
export async function searchAudit(db: Queryable, q: AuditPageQuery): Promise<AuditPage> {
  const limit = q.limit ?? 50;
  const newerFirst = !(q.after !== undefined && q.before === undefined);
  const [found, counted] = await Promise.all([auditPageQuery(db, q), cappedCount(db, phiFileTracking, conditions(q))]);
  const more = found.length > limit;
  const rows = found.slice(0, limit).map(flatten);
  if (!newerFirst) rows.reverse();
  return {
    rows,
    total: counted.total,
    totalExact: counted.exact,
    hasOlder: newerFirst ? more : true,
    hasNewer: newerFirst ? q.before !== undefined || (q.offset ?? 0) > 0 : more,
  };
}

/**
 * One row of the export as the driver gives it, with no ORM mapping (an export reads the whole trail): id and bytes
 * as text (bigints), the time as epoch milliseconds, metadata parsed, the actor's email and the cohort's name where
 * they are still known.
 */
export type AuditExportRow = {
  id: string;
  occurredMs: string;
  action: string;
  outcome: AuditOutcome;
  serverRole: string;
  hostname: string;
  requestId: string | null;
  actorUserId: string | null;
  actorEmail: string | null;
  actorIp: string | null;
  actorUserAgent: string | null;
  cohortId: string | null;
  cohortName: string | null;
  fileId: string | null;
  disk: string | null;
  storageKey: string | null;
  bytes: string | null;
  sha256: string | null;
  error: string | null;
  metadata: Record<string, unknown>;
  prevHash: string;
  rowHash: string;
};

/**
 * Every row matching the filters, oldest first, a page at a time by id (keyset, never OFFSET), so an export holds a
 * page or two in memory however long the trail is: the next page is read while the caller writes this one, and no
 * further. The id range is fixed first, from the matching rows' smallest and largest id (an index range for every
 * filter with an index), so a date range's pages start at its first row instead of walking the older trail, and rows
 * appended after the export began are left out: the export is the trail as it stood when it started.
 */
export async function* auditExportPages(
  db: Queryable,
  filters: AuditFilters,
  options: { pageSize?: number } = {},
): AsyncGenerator<AuditExportRow[], void, undefined> {
  const pageSize = options.pageSize ?? 2000;
  const where = conditions(filters);
  const [bounds] = await db.execute<{ first: string | null; last: string | null }>(
    sql`select min(${phiFileTracking.id})::text as first, max(${phiFileTracking.id})::text as last
        from ${phiFileTracking} ${where ? sql`where ${where}` : sql``}`,
  );
  if (bounds?.first == null || bounds.last == null) return;
  const upTo = BigInt(bounds.last);
  // async, so the read starts when asked for rather than when awaited (a drizzle query is lazy).
  const page = async (after: bigint) =>
    await db.execute<AuditExportRow>(sql`
      select t.id, (extract(epoch from t.occurred_at) * 1000)::bigint as "occurredMs", t.action, t.outcome,
        t.server_role as "serverRole", t.hostname, t.request_id as "requestId", t.actor_user_id as "actorUserId",
        u.email as "actorEmail", t.actor_ip as "actorIp", t.actor_user_agent as "actorUserAgent",
        t.cohort_id as "cohortId", c.name as "cohortName", t.file_id as "fileId", t.disk,
        t.storage_key as "storageKey", t.bytes, t.sha256, t.error, t.metadata, t.prev_hash as "prevHash",
        t.row_hash as "rowHash"
      from (
        select * from ${phiFileTracking}
        where ${and(where, gt(phiFileTracking.id, after), lte(phiFileTracking.id, upTo))}
        order by ${phiFileTracking.id} limit ${pageSize}
      ) t
      left join ${users} u on u.id = t.actor_user_id
      left join ${cohorts} c on c.id = t.cohort_id
      order by t.id`);
  let next = page(BigInt(bounds.first) - 1n);
  try {
    for (;;) {
      const rows = await next;
      const tail = rows.at(-1);
      const more = tail !== undefined && rows.length === pageSize;
      if (more) next = page(BigInt(tail.id));
      if (rows.length > 0) yield rows;
      if (!more) return;
    }
  } finally {
    // A cancelled export leaves a read under way; it must not end as an unhandled rejection.
    void next.catch(() => {});
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
