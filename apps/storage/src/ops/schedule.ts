import { randomUUID } from "node:crypto";
import { appendAudit, auditTail, checkpointKey, type Database, formatAnchor, verifySinceCheckpoint } from "@depot/db";
import { metrics } from "@depot/telemetry";
import type { Disks } from "../drivers";
import type { StorageEnv } from "../env";
import { log } from "../log";
import type { Audit } from "./cleanup";
import { runCleanup } from "./cleanup";
import { runIntegrityCheck } from "./integrity";

const scheduledAudit = (db: Database): Audit => {
  const requestId = `scheduled-${randomUUID()}`;
  return (entry, on = db) =>
    appendAudit(on, { ...entry, serverRole: "services", requestId, metadata: { ...entry.metadata, scheduled: true } });
};

/**
 * Verifies the audit chain from its last trusted checkpoint and stores the next one (see @depot/db's
 * verifySinceCheckpoint); a replica that finds another's run under way skips this turn.
 */
export async function runAuditVerification(ctx: { db: Database; env: StorageEnv }): Promise<void> {
  const outcome = await verifySinceCheckpoint(ctx.db, { key: checkpointKey(ctx.env.checkpointSecret) });
  if (!outcome.ran) return;
  const { result, checkpoint } = outcome;
  const fields = {
    rows: result.rows,
    startedAfter: checkpoint.startedAfterId.toString(),
    ms: checkpoint.durationMs,
    auditAnchor: checkpoint.lastId > 0n ? formatAnchor({ id: checkpoint.lastId, rowHash: checkpoint.lastHash }) : null,
  };
  if (result.ok) log("info", "scheduled audit verification finished", fields);
  else
    log("error", "scheduled audit verification found a problem", {
      ...fields,
      problem: result.problem,
      firstBadId: result.firstBadId.toString(),
    });
}

/**
 * Periodic cleanup, audit chain verification from its checkpoint (and, when configured, integrity checks). Every replica may run the schedule: the
 * cleanup's advisory lock lets one run at a time. Returns a function that stops the timers and resolves once the
 * runs already under way have ended, so a shutdown does not close the database under them.
 */
export function startSchedules(ctx: { db: Database; disks: Disks; env: StorageEnv }): () => Promise<void> {
  const timers: NodeJS.Timeout[] = [];
  const running = new Set<Promise<unknown>>();
  const track = (run: Promise<unknown>) => {
    running.add(run);
    void run.finally(() => running.delete(run));
  };
  if (ctx.env.cleanupIntervalMs > 0) {
    timers.push(
      setInterval(() => {
        track(
          runCleanup(ctx, { hours: ctx.env.cleanupHours, dryRun: false, audit: scheduledAudit(ctx.db) })
            .then(async (r) => {
              // Another replica held the cleanup lock: not a run of this process.
              metrics.jobRuns.inc({ job: "cleanup", outcome: r.ran ? "success" : "skipped" });
              if (!r.ran) return;
              // The trail's tail, into a log kept outside the database: `pnpm audit:verify --anchor` checks it later.
              const tail = await auditTail(ctx.db);
              log("info", "scheduled cleanup finished", {
                found: r.found,
                cleaned: r.cleaned,
                failed: r.failed,
                auditAnchor: tail ? formatAnchor(tail) : null,
              });
            })
            .catch((error: unknown) => {
              metrics.jobRuns.inc({ job: "cleanup", outcome: "failure" });
              log("error", "scheduled cleanup failed", { error: (error as Error).name });
            }),
        );
      }, ctx.env.cleanupIntervalMs),
    );
  }
  if (ctx.env.auditVerifyIntervalMs > 0) {
    timers.push(
      setInterval(() => {
        track(
          runAuditVerification(ctx).catch((error: unknown) =>
            log("error", "scheduled audit verification failed", { error: (error as Error).name }),
          ),
        );
      }, ctx.env.auditVerifyIntervalMs),
    );
  }
  if (ctx.env.integrityIntervalMs > 0) {
    timers.push(
      setInterval(() => {
        track(
          runIntegrityCheck(ctx, { checkHashes: false, audit: scheduledAudit(ctx.db) }).then(
            (r) => {
              metrics.jobRuns.inc({ job: "integrity", outcome: r.ok ? "success" : "problems" });
              log(r.ok ? "info" : "warn", "scheduled integrity check finished", {
                files: r.checkedFiles,
                problems: r.problems.length,
              });
            },
            (error: unknown) => {
              metrics.jobRuns.inc({ job: "integrity", outcome: "failure" });
              log("error", "scheduled integrity check failed", { error: (error as Error).name });
            },
          ),
        );
      }, ctx.env.integrityIntervalMs),
    );
  }
  for (const timer of timers) timer.unref();
  return async () => {
    for (const timer of timers) clearInterval(timer);
    await Promise.allSettled(running);
  };
}
