import { createHmac, timingSafeEqual } from "node:crypto";
import { desc, sql } from "drizzle-orm";
import type { Queryable } from "../client";
import { type AuditCheckpoint, auditCheckpoints } from "../schema";
import { canonicalJson, GENESIS_HASH } from "./canonical";
import { type ChainVerification, verifyAuditChain } from "./verify";

/**
 * Incremental verification. Each run of the chain's verification stores a checkpoint: where it started, the newest
 * row it found intact and that row's hash. The next run starts from the newest trusted checkpoint, so a scheduled
 * run reads only the rows appended since.
 *
 * What keeps a checkpoint from hiding tampering before it:
 * - its MAC: HMAC-SHA256 over its fields with a key that is not in the database (derived from AUDIT_CHECKPOINT_KEY,
 *   else INTERNAL_API_KEY, which the storage service, the web and the CLI have and PostgreSQL does not). A row
 *   written straight into audit_checkpoints, or copied and edited, does not verify and is never started from;
 *   the run starts from the newest checkpoint that does (or walks the whole chain) and reports the forged ones;
 * - the pin: the run starts only if the checkpoint's row is still there with the recorded hash, so the trail
 *   rewritten and rehashed from any row before it is found at once;
 * - the table is append-only (triggers, migration 0004), like the trail.
 * An edit before the checkpoint that keeps every stored hash (a row's content changed, its row_hash left alone) is
 * outside what an incremental run reads: the full walk (`pnpm audit:verify`) finds it.
 */

const LOCK = "depot:audit_verification";
/** How many of the newest checkpoints are read to find the newest trusted one. */
const CHECKPOINTS_READ = 100;

/** The MAC key for checkpoints, from a secret kept outside the database. */
export function checkpointKey(secret: string): Buffer {
  return createHmac("sha256", secret).update("depot audit checkpoint v1").digest();
}

/** The checkpoint key from the environment: AUDIT_CHECKPOINT_KEY, else INTERNAL_API_KEY; undefined if neither. */
export function checkpointKeyFromEnv(env: NodeJS.ProcessEnv = process.env): Buffer | undefined {
  const secret = env.AUDIT_CHECKPOINT_KEY || env.INTERNAL_API_KEY;
  return secret ? checkpointKey(secret) : undefined;
}

type CheckpointFields = Omit<AuditCheckpoint, "id" | "mac">;

function macOf(key: Buffer, c: CheckpointFields): string {
  const fields = [
    c.verifiedAt.toISOString(),
    c.startedAfterId.toString(),
    c.lastId.toString(),
    c.lastHash,
    c.rows,
    c.ok,
    c.problem,
    c.firstBadId?.toString() ?? null,
    c.message,
    c.durationMs,
  ];
  return createHmac("sha256", key).update(canonicalJson(fields)).digest("hex");
}

/** Whether the checkpoint was written by someone holding the key, unchanged. */
export function checkpointTrusted(key: Buffer, c: AuditCheckpoint): boolean {
  const expected = Buffer.from(macOf(key, c), "hex");
  const actual = Buffer.from(c.mac, "hex");
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** The newest checkpoint, trusted or not (the audit page shows it and says which). */
export async function latestAuditCheckpoint(db: Queryable): Promise<AuditCheckpoint | null> {
  const [row] = await db.select().from(auditCheckpoints).orderBy(desc(auditCheckpoints.id)).limit(1);
  return row ?? null;
}

export type IncrementalVerification =
  | { ran: false }
  | {
      ran: true;
      result: ChainVerification;
      /** The checkpoint the walk started from; null when it walked the whole chain. */
      startedFrom: AuditCheckpoint | null;
      /** Newer checkpoints whose MAC did not verify: someone wrote them without the key. */
      untrusted: number;
      checkpoint: AuditCheckpoint;
    };

/**
 * Verifies the chain from the newest trusted checkpoint to the tail and stores the new checkpoint. One run at a time
 * across every process (an advisory lock): a run that finds another under way returns `{ ran: false }`. The walk
 * reads one snapshot, so rows appended meanwhile are the next run's.
 */
export async function verifySinceCheckpoint(
  db: Queryable,
  options: { key: Buffer; batchSize?: number; now?: () => Date },
): Promise<IncrementalVerification> {
  const now = options.now ?? (() => new Date());
  return db.transaction(
    async (tx) => {
      const [lock] = await tx.execute<{ locked: boolean }>(
        sql`select pg_try_advisory_xact_lock(hashtext(${LOCK})) as locked`,
      );
      if (!lock?.locked) return { ran: false } as const;
      const started = Date.now();
      const recent = await tx
        .select()
        .from(auditCheckpoints)
        .orderBy(desc(auditCheckpoints.id))
        .limit(CHECKPOINTS_READ);
      const index = recent.findIndex((c) => checkpointTrusted(options.key, c));
      const startedFrom = index >= 0 ? (recent[index] ?? null) : null;
      const untrusted = index >= 0 ? index : recent.length;
      const from = startedFrom ? { id: startedFrom.lastId, rowHash: startedFrom.lastHash } : undefined;
      const chain = await verifyAuditChain(tx, { from, batchSize: options.batchSize });
      const result: ChainVerification =
        chain.ok && untrusted > 0
          ? {
              ok: false,
              rows: chain.rows,
              firstBadId: chain.tail?.id ?? 0n,
              problem: "checkpoint_forged",
              message: `${untrusted} newer checkpoint(s) do not carry a valid MAC: they were written without the key`,
            }
          : chain;
      // Where the next run starts: the tail when all verified, else the last row before the bad one.
      const last = chain.ok
        ? (chain.tail ?? from ?? { id: 0n, rowHash: GENESIS_HASH })
        : await lastGoodBefore(tx, chain.firstBadId, from);
      const fields: CheckpointFields = {
        verifiedAt: now(),
        startedAfterId: from?.id ?? 0n,
        lastId: last.id,
        lastHash: last.rowHash,
        rows: chain.rows,
        ok: result.ok,
        problem: result.ok ? null : result.problem,
        firstBadId: result.ok ? null : result.firstBadId,
        message: result.ok ? null : result.message,
        durationMs: Date.now() - started,
      };
      const [checkpoint] = await tx
        .insert(auditCheckpoints)
        .values({ ...fields, mac: macOf(options.key, fields) })
        .returning();
      if (!checkpoint) throw new Error("checkpoint insert returned no row");
      return { ran: true, result, startedFrom, untrusted, checkpoint } as const;
    },
    { isolationLevel: "repeatable read" },
  );
}

/** The row before `badId` with its hash, as the walk saw it (never before where it started). */
async function lastGoodBefore(db: Queryable, badId: bigint, from: { id: bigint; rowHash: string } | undefined) {
  const floor = from ?? { id: 0n, rowHash: GENESIS_HASH };
  if (badId <= floor.id) return floor;
  const [row] = await db.execute<{ id: string; row_hash: string }>(
    sql`select id, row_hash from phi_file_tracking where id < ${badId.toString()} and id > ${floor.id.toString()}
        order by id desc limit 1`,
  );
  return row ? { id: BigInt(row.id), rowHash: row.row_hash } : floor;
}
