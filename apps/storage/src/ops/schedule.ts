import { randomUUID } from "node:crypto";
import {
  appendAudit,
  auditTail,
  checkpointKey,
  claimScheduledRun,
  type Database,
  finishScheduledRun,
  formatAnchor,
  verifySinceCheckpoint,
} from "@depot/db";
import { metrics } from "@depot/telemetry";
import type { Disks } from "../drivers";
import type { StorageEnv } from "../env";
import { log } from "../log";
import type { Audit } from "./cleanup";
import { runCleanup } from "./cleanup";
import { runIntegrityCheck } from "./integrity";

/** How a run ended, as metrics.jobRuns and scheduled_job_runs.last_outcome name it. */
type Outcome = "success" | "skipped" | "problems" | "failure";

/**
 * The audit writer of one scheduled run: every row it writes names the replica that ran it and the start of the
 * interval's run it belongs to (the database's clock, as scheduled_job_runs records it), besides the host name
 * every audit row carries.
 */
const scheduledAudit = (db: Database, run: { replica: string; scheduledAt: Date }): Audit => {
  const requestId = `scheduled-${randomUUID()}`;
  return (entry, on = db) =>
    appendAudit(on, {
      ...entry,
      serverRole: "services",
      requestId,
      metadata: {
        ...entry.metadata,
        scheduled: true,
        replica: run.replica,
        scheduledAt: run.scheduledAt.toISOString(),
      },
    });
};

/**
 * Verifies the audit chain from its last trusted checkpoint and stores the next one (see @depot/db's
 * verifySinceCheckpoint); a run that finds another under way (e.g. `pnpm audit:verify`) skips this turn.
 */
export async function runAuditVerification(ctx: { db: Database; env: StorageEnv }): Promise<Outcome> {
  const outcome = await verifySinceCheckpoint(ctx.db, { key: checkpointKey(ctx.env.checkpointSecret) });
  if (!outcome.ran) return "skipped";
  const { result, checkpoint } = outcome;
  const fields = {
    rows: result.rows,
    startedAfter: checkpoint.startedAfterId.toString(),
    ms: checkpoint.durationMs,
    auditAnchor: checkpoint.lastId > 0n ? formatAnchor({ id: checkpoint.lastId, rowHash: checkpoint.lastHash }) : null,
  };
  if (result.ok) {
    log("info", "scheduled audit verification finished", fields);
    return "success";
  }
  log("error", "scheduled audit verification found a problem", {
    ...fields,
    problem: result.problem,
    firstBadId: result.firstBadId.toString(),
  });
  return "problems";
}

type Ctx = { db: Database; disks: Disks; env: StorageEnv };

interface ScheduledJob {
  name: "cleanup" | "audit_verification" | "integrity";
  intervalMs: number;
  run(ctx: Ctx, audit: Audit): Promise<Outcome>;
}

const JOBS: ((env: StorageEnv) => ScheduledJob)[] = [
  (env) => ({
    name: "cleanup",
    intervalMs: env.cleanupIntervalMs,
    async run(ctx, audit) {
      const r = await runCleanup(ctx, { hours: ctx.env.cleanupHours, dryRun: false, audit });
      // A manual cleanup (CLI, web) held the cleanup lock: nothing was done.
      if (!r.ran) return "skipped";
      // The trail's tail, into a log kept outside the database: `pnpm audit:verify --anchor` checks it later.
      const tail = await auditTail(ctx.db);
      log("info", "scheduled cleanup finished", {
        found: r.found,
        cleaned: r.cleaned,
        failed: r.failed,
        auditAnchor: tail ? formatAnchor(tail) : null,
      });
      return "success";
    },
  }),
  (env) => ({
    name: "audit_verification",
    intervalMs: env.auditVerifyIntervalMs,
    run: (ctx) => runAuditVerification(ctx),
  }),
  (env) => ({
    name: "integrity",
    intervalMs: env.integrityIntervalMs,
    async run(ctx, audit) {
      const r = await runIntegrityCheck(ctx, { checkHashes: false, audit });
      log(r.ok ? "info" : "warn", "scheduled integrity check finished", {
        files: r.checkedFiles,
        problems: r.problems.length,
      });
      return r.ok ? "success" : "problems";
    },
  }),
];

/**
 * Periodic cleanup, audit chain verification from its checkpoint and (when configured) integrity checks, once per
 * interval across every storage replica. Each replica looks several times per interval (every
 * min(SCHEDULE_TICK_SECONDS, interval / 4)) and runs a job only when it wins the interval's claim in
 * scheduled_job_runs (see claimScheduledRun): whichever replica looks first after the interval passed runs it, so
 * the interval is kept when the last winner died. `replica` names this process in the claim and in the audit
 * rows its runs write. metrics.jobRuns counts this replica's runs by outcome, and one "skipped" for each interval
 * another replica ran. Returns a function that stops the timers and resolves once the runs under way have ended,
 * so a shutdown does not close the database under them.
 */
export function startSchedules(ctx: Ctx & { replica: string }): () => Promise<void> {
  const timers: NodeJS.Timeout[] = [];
  const running = new Set<Promise<unknown>>();
  for (const job of JOBS.map((make) => make(ctx.env))) {
    if (job.intervalMs <= 0) continue;
    let busy = false;
    let lastOtherRun: number | undefined;
    const turn = async () => {
      const claim = await claimScheduledRun(ctx.db, {
        job: job.name,
        intervalMs: job.intervalMs,
        replica: ctx.replica,
      });
      if (!claim.claimed) {
        // Another replica has this interval: counted once per run of theirs, not per look.
        if (claim.replica !== ctx.replica && claim.startedAt.getTime() !== lastOtherRun) {
          lastOtherRun = claim.startedAt.getTime();
          metrics.jobRuns.inc({ job: job.name, outcome: "skipped" });
        }
        return;
      }
      const audit = scheduledAudit(ctx.db, { replica: ctx.replica, scheduledAt: claim.startedAt });
      const outcome = await job.run(ctx, audit).catch((error: unknown): Outcome => {
        log("error", `scheduled ${job.name} failed`, { error: (error as Error).name, replica: ctx.replica });
        return "failure";
      });
      metrics.jobRuns.inc({ job: job.name, outcome });
      await finishScheduledRun(ctx.db, {
        job: job.name,
        replica: ctx.replica,
        startedAt: claim.startedAt,
        outcome,
      }).catch((error: unknown) =>
        log("warn", "scheduled run's end not recorded", { job: job.name, error: (error as Error).name }),
      );
    };
    const tickMs = Math.max(10, Math.min(ctx.env.scheduleTickMs, job.intervalMs / 4));
    const timer = setInterval(() => {
      // One look at a time per job: a long run is not joined by this replica's next look.
      if (busy) return;
      busy = true;
      const look = turn()
        .catch((error: unknown) => {
          metrics.jobRuns.inc({ job: job.name, outcome: "failure" });
          log("error", "scheduled job claim failed", { job: job.name, error: (error as Error).name });
        })
        .finally(() => {
          busy = false;
          running.delete(look);
        });
      running.add(look);
    }, tickMs);
    timer.unref();
    timers.push(timer);
  }
  return async () => {
    for (const timer of timers) clearInterval(timer);
    await Promise.allSettled(running);
  };
}
