import { sql } from "drizzle-orm";
import type { Queryable } from "../client";
import type { AuditOutcome, ServerRole } from "../schema";
import { canonicalJson, GENESIS_HASH, type HashedContent, rowHash } from "./canonical";

/** One row for a bulk load: the content a row hash covers, with its own time (an import keeps the original's). */
export type BulkAuditRow = Omit<HashedContent, "outcome" | "serverRole"> & {
  outcome: AuditOutcome;
  serverRole: ServerRole;
};

/**
 * The bulk path into the trail, for imports and benchmark data, not for serving requests: appends `rows` in order as
 * one hash-chained run. It takes the same chain lock as the append function (phi_file_tracking_append), reads the
 * tail, computes each link in Node with the formula the verifier uses (canonical.ts) and inserts every row in one
 * statement, all inside the caller's transaction or its own. Unlike the append function it holds the lock across
 * round trips to this process, so other writers wait for the whole batch: keep batches to some thousands of rows.
 * The rows are stored exactly as given (metadata canonical, as the writer stores it), so the verifier accepts them.
 */
export async function appendAuditBatch(db: Queryable, rows: BulkAuditRow[]): Promise<{ id: bigint; rowHash: string }> {
  if (rows.length === 0) throw new Error("appendAuditBatch needs at least one row");
  return db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(hashtext('depot:phi_file_tracking'))`);
    const [tail] = await tx.execute<{ row_hash: string }>(
      sql`select row_hash from phi_file_tracking order by id desc limit 1`,
    );
    let prev = tail?.row_hash ?? GENESIS_HASH;
    const records = rows.map((r) => {
      const metadata = JSON.parse(canonicalJson(r.metadata)) as Record<string, unknown>;
      const hash = rowHash(prev, { ...r, metadata });
      const record = {
        occurred_at: r.occurredAt.toISOString(),
        action: r.action,
        outcome: r.outcome,
        server_role: r.serverRole,
        hostname: r.hostname,
        request_id: r.requestId,
        actor_user_id: r.actorUserId,
        actor_ip: r.actorIp,
        actor_user_agent: r.actorUserAgent,
        cohort_id: r.cohortId,
        file_id: r.fileId,
        disk: r.disk,
        storage_key: r.storageKey,
        bytes: r.bytes,
        sha256: r.sha256,
        error: r.error,
        metadata,
        prev_hash: prev,
        row_hash: hash,
      };
      prev = hash;
      return record;
    });
    // Ids from the table's sequence in the order given: the ordered subquery is numbered before the insert.
    const [last] = await tx.execute<{ id: string }>(sql`
      with inserted as (
        insert into phi_file_tracking (id, occurred_at, action, outcome, server_role, hostname, request_id,
          actor_user_id, actor_ip, actor_user_agent, cohort_id, file_id, disk, storage_key, bytes, sha256, error,
          metadata, prev_hash, row_hash)
        select nextval(pg_get_serial_sequence('phi_file_tracking', 'id')), r.occurred_at, r.action, r.outcome,
          r.server_role, r.hostname, r.request_id, r.actor_user_id, r.actor_ip, r.actor_user_agent, r.cohort_id,
          r.file_id, r.disk, r.storage_key, r.bytes, r.sha256, r.error, coalesce(r.metadata, '{}'::jsonb),
          r.prev_hash, r.row_hash
        from (
          select p.* from jsonb_array_elements(${JSON.stringify(records)}::jsonb) with ordinality as e(value, n),
            jsonb_populate_record(null::phi_file_tracking, e.value) as p
          order by e.n
        ) as r
        returning id, row_hash
      )
      select id, row_hash from inserted order by id desc limit 1`);
    if (!last) throw new Error("bulk audit insert returned no row");
    return { id: BigInt(last.id), rowHash: prev };
  });
}
