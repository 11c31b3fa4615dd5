import { asc, eq, gt } from "drizzle-orm";
import type { Queryable } from "../client";
import { phiFileTracking } from "../schema";
import { GENESIS_HASH, rowHash } from "./canonical";

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
  const batchSize = options.batchSize ?? 5000;
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
  for (;;) {
    const batch = await db
      .select()
      .from(phiFileTracking)
      .where(gt(phiFileTracking.id, lastId))
      .orderBy(asc(phiFileTracking.id))
      .limit(batchSize);
    for (const row of batch) {
      if (row.prevHash !== expectedPrev) {
        return {
          ok: false,
          rows,
          firstBadId: row.id,
          problem: "broken_link",
          message: `row ${row.id} does not follow the row before it: a row was removed or altered before it`,
        };
      }
      if (rowHash(row.prevHash, row) !== row.rowHash) {
        return {
          ok: false,
          rows,
          firstBadId: row.id,
          problem: "altered",
          message: `row ${row.id} was altered after it was written`,
        };
      }
      if (anchor && row.id === anchor.id) {
        anchorSeen = true;
        if (row.rowHash !== anchor.rowHash) return anchorFailure(anchor, rows, "changed");
      }
      expectedPrev = row.rowHash;
      lastId = row.id;
      rows++;
    }
    if (batch.length < batchSize) break;
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
