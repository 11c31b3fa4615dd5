import { eq, sql } from "drizzle-orm";
import type { Queryable } from "../client";
import { phiFileTracking } from "../schema";
import { contentOf, GENESIS_HASH, isoTimeSql, linkHash } from "./canonical";

/** A row of the trail as recorded somewhere outside the database, to prove later that it is still there. */
export interface ChainAnchor {
  id: bigint;
  rowHash: string;
}

export type ChainVerification =
  | { ok: true; rows: number; tail: ChainAnchor | null }
  | {
      ok: false;
      rows: number;
      firstBadId: bigint;
      problem: ChainProblem;
      message: string;
    };

export type ChainProblem =
  | "altered"
  | "broken_link"
  | "anchor_missing"
  | "anchor_mismatch"
  | "checkpoint_missing"
  | "checkpoint_mismatch"
  | "checkpoint_forged";

/** "<id>:<row hash>", the form an anchor is printed, logged and given back in. */
export const formatAnchor = (anchor: ChainAnchor) => `${anchor.id}:${anchor.rowHash}`;

export function parseAnchor(text: string): ChainAnchor | undefined {
  const match = /^(\d{1,19}):([0-9a-f]{64})$/.exec(text.trim());
  return match ? { id: BigInt(match[1] ?? "0"), rowHash: match[2] ?? "" } : undefined;
}

/**
 * Walks the trail in id order and names the first row whose content or link does not verify. The chain alone
 * cannot show that its newest rows were removed, or that it was rewritten and rehashed from some row on; an anchor
 * recorded outside the database (a row id and its hash) can: that row must still be there with that hash.
 *
 * With `from` (a checkpoint: a row an earlier run found intact, and its hash), the walk starts after that row: the
 * row must still be there with that hash (a rewrite and rehash of anything before it changes it), and the next row
 * must link to it. Rows before it are not read again: an edit there that keeps every stored hash is found only by a
 * walk from the start.
 */
export async function verifyAuditChain(
  db: Queryable,
  options: { batchSize?: number; anchor?: ChainAnchor; from?: ChainAnchor } = {},
): Promise<ChainVerification> {
  const batchSize = options.batchSize ?? 10_000;
  const anchor = options.anchor;
  const from = options.from && options.from.id > 0n ? options.from : undefined;
  let expectedPrev = GENESIS_HASH;
  let lastId = 0n;
  let rows = 0;
  let anchorSeen = false;
  const pinned = async (pin: ChainAnchor) => {
    const [row] = await db
      .select({ rowHash: phiFileTracking.rowHash })
      .from(phiFileTracking)
      .where(eq(phiFileTracking.id, pin.id));
    return row ? (row.rowHash === pin.rowHash ? "same" : "changed") : "missing";
  };
  if (from) {
    const state = await pinned(from);
    if (state !== "same") {
      return {
        ok: false,
        rows,
        firstBadId: from.id,
        problem: state === "missing" ? "checkpoint_missing" : "checkpoint_mismatch",
        message:
          state === "missing"
            ? `row ${from.id}, which the last verification found intact, is gone`
            : `row ${from.id} no longer has the hash the last verification found: the trail was rewritten up to there`,
      };
    }
    expectedPrev = from.rowHash;
    lastId = from.id;
    // An anchor older than the checkpoint is not walked over again: check that row directly.
    if (anchor && anchor.id <= from.id) {
      const state = await pinned(anchor);
      if (state !== "same") return anchorFailure(anchor, rows, state);
      anchorSeen = true;
    }
  }
  // The walk covers the trail as it stood when it began, in id ranges of batchSize read READS_AHEAD at a time: on
  // their own connections PostgreSQL writes the next ranges' rows while this one is hashed (its writing is the larger
  // part of the walk). Ids may have gaps (a rolled-back append uses one up): a range may hold fewer rows, or none.
  const [newest] = await db.execute<{ id: string | null }>(sql`select max(id)::text as id from phi_file_tracking`);
  const upTo = newest?.id == null ? 0n : BigInt(newest.id);
  const step = BigInt(batchSize);
  let nextStart = lastId;
  const reads: Promise<StoredRow[]>[] = [];
  const readAhead = () => {
    while (reads.length < READS_AHEAD && nextStart < upTo) {
      const end = nextStart + step < upTo ? nextStart + step : upTo;
      reads.push(readRange(db, nextStart, end));
      nextStart = end;
    }
  };
  readAhead();
  try {
    for (let batch = await reads.shift(); batch; batch = await reads.shift()) {
      readAhead();
      for (const row of batch) {
        const { prev_hash: prevHash, row_hash: storedHash } = row;
        const id = BigInt(row.id);
        if (prevHash !== expectedPrev) {
          return {
            ok: false,
            rows,
            firstBadId: id,
            problem: "broken_link",
            message: `row ${id} does not follow the row before it: a row was removed or altered before it`,
          };
        }
        if (linkHash(prevHash, contentOf(row.scalars, row.metadata)) !== storedHash) {
          return {
            ok: false,
            rows,
            firstBadId: id,
            problem: "altered",
            message: `row ${id} was altered after it was written`,
          };
        }
        if (anchor && id === anchor.id) {
          anchorSeen = true;
          if (storedHash !== anchor.rowHash) return anchorFailure(anchor, rows, "changed");
        }
        expectedPrev = storedHash;
        lastId = id;
        rows++;
      }
    }
  } finally {
    // A walk that stopped at a bad row leaves reads under way; they must not end as unhandled rejections.
    for (const read of reads) void read.catch(() => {});
  }
  // Rows appended after the newest ones were removed link to the new tail and verify: only the anchor tells.
  if (anchor && !anchorSeen) return anchorFailure(anchor, rows, "missing");
  return { ok: true, rows, tail: lastId > 0n ? { id: lastId, rowHash: expectedPrev } : null };
}

function anchorFailure(anchor: ChainAnchor, rows: number, state: "changed" | "missing"): ChainVerification {
  return state === "changed"
    ? {
        ok: false,
        rows,
        firstBadId: anchor.id,
        problem: "anchor_mismatch",
        message: `row ${anchor.id} no longer has the hash recorded for it: the trail was rewritten from there on`,
      }
    : {
        ok: false,
        rows,
        firstBadId: anchor.id,
        problem: "anchor_missing",
        message: `row ${anchor.id}, recorded as part of the trail, is gone: rows at the end of the trail were removed`,
      };
}

/**
 * A row as the walk reads it, straight from the driver without the ORM's mapping: the two hashes, the metadata, and
 * the row's 16 scalar fields as the JSON array canonicalContent hashes, written by PostgreSQL (the driver would
 * otherwise parse 16 columns a row and Node stringify them again, most of the walk's time). to_json's text is
 * JSON.stringify's for the values these columns hold: strings (the same escapes, \b \f \n \r \t and \u00xx for the
 * other control characters, nothing else escaped), integers and null; the time as its ISO form with milliseconds,
 * which is what the writer hashed. Should the two ever differ, the row is reported altered: never a false pass.
 */
type StoredRow = {
  id: string;
  prev_hash: string;
  row_hash: string;
  scalars: string;
  metadata: Record<string, unknown>;
};

const json = (column: string) => `coalesce(to_json(${column})::text, 'null')`;
const SCALARS = `'[' || concat_ws(',', ${[
  `to_json(${isoTimeSql("occurred_at")})::text`,
  json("action"),
  json("outcome::text"),
  json("server_role::text"),
  json("hostname"),
  json("request_id"),
  json("actor_user_id::text"),
  json("actor_ip"),
  json("actor_user_agent"),
  json("cohort_id::text"),
  json("file_id::text"),
  json("disk"),
  json("storage_key"),
  "coalesce(bytes::text, 'null')",
  json("sha256"),
  json("error"),
].join(", ")}) || ']'`;

/** Ranges read at once: two, for the two cores the walk shares with PostgreSQL. */
const READS_AHEAD = 2;

// async, so the read starts when asked for rather than when awaited (a drizzle query is lazy).
async function readRange(db: Queryable, afterId: bigint, upToId: bigint): Promise<StoredRow[]> {
  return await db.execute<StoredRow>(sql`
    select id, prev_hash, row_hash, ${sql.raw(SCALARS)} as scalars, metadata
    from phi_file_tracking where id > ${afterId.toString()} and id <= ${upToId.toString()} order by id`);
}
