import { and, asc, count, desc, eq, gt, gte, lt, lte, type SQL, sql } from "drizzle-orm";
import type { PgTable } from "drizzle-orm/pg-core";
import { isoTimeSql } from "../audit/canonical";
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
 * The export's columns in order: every stored field (hashes included, so a copy can be checked offline) and the
 * actor's email and the cohort's name where they are still known, from the trail row t, its actor u and its cohort
 * c. "text" may hold anything and is written by depot_csv_field (migration 0010); "json" is always quoted, so always
 * written by it; "as is" has a type that leaves nothing to quote or neutralise (uuid, enum, number, the formatted
 * time). Times are UTC ISO with milliseconds (as JSON answers write them), metadata as PostgreSQL writes jsonb.
 */
const AUDIT_CSV_COLUMNS: readonly (readonly [name: string, kind: "text" | "json" | "as is", value: SQL])[] = [
  ["id", "as is", sql`t.id`],
  ["occurred_at", "as is", sql.raw(isoTimeSql("t.occurred_at"))],
  ["action", "text", sql`t.action`],
  ["outcome", "as is", sql`t.outcome`],
  ["server_role", "as is", sql`t.server_role`],
  ["hostname", "text", sql`t.hostname`],
  ["request_id", "text", sql`t.request_id`],
  ["actor_user_id", "as is", sql`t.actor_user_id`],
  ["actor_email", "text", sql`u.email`],
  ["actor_ip", "text", sql`t.actor_ip`],
  ["actor_user_agent", "text", sql`t.actor_user_agent`],
  ["cohort_id", "as is", sql`t.cohort_id`],
  ["cohort_name", "text", sql`c.name`],
  ["file_id", "as is", sql`t.file_id`],
  ["disk", "text", sql`t.disk`],
  ["storage_key", "text", sql`t.storage_key`],
  ["bytes", "as is", sql`t.bytes`],
  ["sha256", "text", sql`t.sha256`],
  ["error", "text", sql`t.error`],
  ["metadata", "json", sql`t.metadata`],
  ["prev_hash", "text", sql`t.prev_hash`],
  ["row_hash", "text", sql`t.row_hash`],
];

/** The export's first line: its column names. */
export const AUDIT_CSV_HEADER = `${AUDIT_CSV_COLUMNS.map(([name]) => name).join(",")}\r\n`;

const asText = (value: SQL) => sql`(${value})::text`;
/** One CSV record, CRLF-terminated; `||` rather than concat_ws, so a missing field fails instead of shifting. */
const record = (fields: SQL[]) => sql`${sql.join(fields, sql` || ',' || `)} || E'\r\n'`;
const asIs = (value: SQL) => sql`coalesce(${asText(value)}, '')`;
const written = (value: SQL) => sql`depot_csv_field(${asText(value)})`;
const texts = AUDIT_CSV_COLUMNS.filter(([, kind]) => kind === "text").map(([, , value]) => asText(value));
/**
 * depot_csv_field costs PostgreSQL about a microsecond a field, most of the export's time; most rows have no text
 * to quote or neutralise (no quote, comma, CR or LF anywhere; no formula character first), and theirs is written
 * with every field as it is but the JSON.
 */
const needsCare = sql`(concat(${sql.join(texts, sql`, `)}) ~ E'[",\r\n]'
  or concat(${sql.join(
    texts.map((text) => sql`left(${text}, 1)`),
    sql`, `,
  )}) ~ E'[=+@\t\r-]')`;
const csvLine = sql`case when ${needsCare} then ${record(
  AUDIT_CSV_COLUMNS.map(([, kind, value]) => (kind === "as is" ? asIs(value) : written(value))),
)} else ${record(AUDIT_CSV_COLUMNS.map(([, kind, value]) => (kind === "json" ? written(value) : asIs(value))))} end`;

/**
 * Every row matching the filters as a CSV record, oldest first, a page at a time by id (keyset, never OFFSET), so an
 * export holds a page or two in memory however long the trail is: the next page is read while the caller writes this
 * one, and no further. The database writes each record (AUDIT_CSV_COLUMNS): the web receives one text per row and
 * builds nothing per field, which kept its heap from growing by hundreds of MiB under a fast client. The id range is
 * fixed first, from the matching rows' smallest and largest id (an index range for every filter with an index), so a
 * date range's pages start at its first row instead of walking the older trail, and rows appended after the export
 * began are left out: the export is the trail as it stood when it started.
 */
export async function* auditCsvPages(
  db: Queryable,
  filters: AuditFilters,
  options: { pageSize?: number } = {},
): AsyncGenerator<string[], void, undefined> {
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
    await db.execute<{ id: string; line: string }>(sql`
      select t.id, ${csvLine} as line
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
      if (rows.length > 0) yield rows.map((row) => row.line);
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
