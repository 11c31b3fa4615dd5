import { asc, gt } from "drizzle-orm";
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
      problem: "altered" | "broken_link" | "anchor_missing" | "anchor_mismatch";
      message: string;
    };

/** "<id>:<row hash>", the form an anchor is printed, logged and given back in. */
export const formatAnchor = (anchor: ChainAnchor) => `${anchor.id}:${anchor.rowHash}`;

export function parseAnchor(text: string): ChainAnchor | undefined {
  const match = /^(\d{1,19}):([0-9a-f]{64})$/.exec(text.trim());
  return match ? { id: BigInt(match[1] ?? "0"), rowHash: match[2] ?? "" } : undefined;
}

/**
 * Walks the whole trail in id order and names the first row whose content or link does not verify. The chain alone
 * cannot show that its newest rows were removed, or that it was rewritten and rehashed from some row on; an anchor
 * recorded outside the database (a row id and its hash) can: that row must still be there with that hash.
 */
export async function verifyAuditChain(
  db: Queryable,
  options: { batchSize?: number; anchor?: ChainAnchor } = {},
): Promise<ChainVerification> {
  const batchSize = options.batchSize ?? 1000;
  const anchor = options.anchor;
  let expectedPrev = GENESIS_HASH;
  let lastId = 0n;
  let rows = 0;
  let anchorSeen = false;
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
        if (row.rowHash !== anchor.rowHash) {
          return {
            ok: false,
            rows,
            firstBadId: row.id,
            problem: "anchor_mismatch",
            message: `row ${row.id} no longer has the hash recorded for it: the trail was rewritten from there on`,
          };
        }
      }
      expectedPrev = row.rowHash;
      lastId = row.id;
      rows++;
    }
    if (batch.length < batchSize) break;
  }
  // Rows appended after the newest ones were removed link to the new tail and verify: only the anchor tells.
  if (anchor && !anchorSeen) {
    return {
      ok: false,
      rows,
      firstBadId: anchor.id,
      problem: "anchor_missing",
      message: `row ${anchor.id}, recorded as part of the trail, is gone: rows at the end of the trail were removed`,
    };
  }
  return { ok: true, rows, tail: rows > 0 ? { id: lastId, rowHash: expectedPrev } : null };
}
