import { and, asc, count, desc, eq, gt, gte, lt, lte, max, type SQL, sql } from "drizzle-orm";
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
 * Every row matching the filters, oldest first, read a page at a time by id (keyset, never OFFSET), so an
 * export holds one page in memory however long the trail is. Rows appended after the export began are
 * left out: the export is the trail as it stood when it started.
 */
export async function* auditRowsForExport(
  db: Queryable,
  filters: AuditFilters,
  options: { pageSize?: number } = {},
): AsyncGenerator<AuditListRow, void, undefined> {
  const pageSize = options.pageSize ?? 5000;
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
