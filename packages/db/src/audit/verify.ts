import { eq, sql } from "drizzle-orm";
import type { Queryable } from "../client";
import { phiFileTracking } from "../schema";
import { GENESIS_HASH, linkHash, storedContent } from "./canonical";

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
  // The next batch is read while this one is hashed, so the database and the hashing overlap (one batch ahead).
  let pending = readBatch(db, lastId, batchSize);
  try {
    for (;;) {
      const batch = await pending;
      const tail = batch.at(-1);
      if (tail && batch.length === batchSize) pending = readBatch(db, BigInt(tail.id), batchSize);
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
        if (linkHash(prevHash, storedRowContent(row)) !== storedHash) {
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
      if (batch.length < batchSize) break;
    }
  } finally {
    // A walk that stopped at a bad row leaves a read under way; it must not end as an unhandled rejection.
    void pending.catch(() => {});
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
 * A row as the walk reads it: the hashed fields and the two hashes, straight from the driver without the ORM's
 * mapping. The time comes as epoch milliseconds (the column keeps milliseconds), so it becomes exactly the Date the
 * writer hashed; id and bytes come as text, as the driver gives a bigint.
 */
type StoredRow = {
  id: string;
  prev_hash: string;
  row_hash: string;
  occurred_ms: string;
  action: string;
  outcome: string;
  server_role: string;
  hostname: string;
  request_id: string | null;
  actor_user_id: string | null;
  actor_ip: string | null;
  actor_user_agent: string | null;
  cohort_id: string | null;
  file_id: string | null;
  disk: string | null;
  storage_key: string | null;
  bytes: string | null;
  sha256: string | null;
  error: string | null;
  metadata: Record<string, unknown>;
};

// async, so the read starts when asked for rather than when awaited (a drizzle query is lazy).
async function readBatch(db: Queryable, afterId: bigint, limit: number): Promise<StoredRow[]> {
  return await db.execute<StoredRow>(sql`
    select id, prev_hash, row_hash, (extract(epoch from occurred_at) * 1000)::bigint as occurred_ms, action, outcome,
      server_role, hostname, request_id, actor_user_id, actor_ip, actor_user_agent, cohort_id, file_id, disk,
      storage_key, bytes, sha256, error, metadata
    from phi_file_tracking where id > ${afterId.toString()} order by id limit ${limit}`);
}

const storedRowContent = (r: StoredRow) =>
  storedContent([
    new Date(Number(r.occurred_ms)).toISOString(),
    r.action,
    r.outcome,
    r.server_role,
    r.hostname,
    r.request_id,
    r.actor_user_id,
    r.actor_ip,
    r.actor_user_agent,
    r.cohort_id,
    r.file_id,
    r.disk,
    r.storage_key,
    r.bytes === null ? null : Number(r.bytes),
    r.sha256,
    r.error,
    r.metadata,
  ]);
