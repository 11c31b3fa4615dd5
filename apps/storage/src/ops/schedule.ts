import { randomUUID } from "node:crypto";
import { appendAudit, type Database } from "@depot/db";
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
 * Periodic cleanup (and, when configured, integrity checks). Every replica may run the schedule: the
 * cleanup's advisory lock lets one run at a time. Returns a function that stops the timers.
 */
export function startSchedules(ctx: { db: Database; disks: Disks; env: StorageEnv }): () => void {
  const timers: NodeJS.Timeout[] = [];
  if (ctx.env.cleanupIntervalMs > 0) {
    timers.push(
      setInterval(() => {
        runCleanup(ctx, { hours: ctx.env.cleanupHours, dryRun: false, audit: scheduledAudit(ctx.db) }).then(
          (r) =>
            r.ran &&
            log("info", "scheduled cleanup finished", { found: r.found, cleaned: r.cleaned, failed: r.failed }),
          (error: unknown) => log("error", "scheduled cleanup failed", { error: (error as Error).name }),
        );
      }, ctx.env.cleanupIntervalMs),
    );
  }
  if (ctx.env.integrityIntervalMs > 0) {
    timers.push(
      setInterval(() => {
        runIntegrityCheck(ctx, { checkHashes: false, audit: scheduledAudit(ctx.db) }).then(
          (r) =>
            log(r.ok ? "info" : "warn", "scheduled integrity check finished", {
              files: r.checkedFiles,
              problems: r.problems.length,
            }),
          (error: unknown) => log("error", "scheduled integrity check failed", { error: (error as Error).name }),
        );
      }, ctx.env.integrityIntervalMs),
    );
  }
  for (const timer of timers) timer.unref();
  return () => {
    for (const timer of timers) clearInterval(timer);
  };
}
