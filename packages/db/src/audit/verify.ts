import { asc, gt } from "drizzle-orm";
import type { Queryable } from "../client";
import { phiFileTracking } from "../schema";
import { GENESIS_HASH, rowHash } from "./canonical";

export type ChainVerification =
  | { ok: true; rows: number }
  | { ok: false; rows: number; firstBadId: bigint; problem: "altered" | "broken_link"; message: string };

/** Walks the whole trail in id order and names the first row whose content or link does not verify. */
export async function verifyAuditChain(db: Queryable, batchSize = 1000): Promise<ChainVerification> {
  let expectedPrev = GENESIS_HASH;
  let lastId = 0n;
  let rows = 0;
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
      expectedPrev = row.rowHash;
      lastId = row.id;
      rows++;
    }
    if (batch.length < batchSize) return { ok: true, rows };
  }
}
