import { hostname } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import {
  appendAudit,
  checkpointKey,
  checkpointTrusted,
  claimScheduledRun,
  latestAuditCheckpoint,
  parseAnchor,
  scheduledJobRunsList,
  verifyAuditChain,
} from "@depot/db";
import { metrics } from "@depot/telemetry";
import { afterAll, beforeAll, expect, test, vi } from "vitest";
import { logger } from "../log";
import { startTestStorage } from "../test-server";
import { startSchedules } from "./schedule";

let storage: Awaited<ReturnType<typeof startTestStorage>>;
beforeAll(async () => {
  storage = await startTestStorage();
});
afterAll(async () => {
  await storage?.stop();
});

test("the scheduled cleanup runs, is audited, and logs the trail's tail as an anchor that verifies", async () => {
  await appendAudit(storage.db, { action: "stream_upload", outcome: "success", serverRole: "services" });
  const lines: string[] = [];
  const level = logger.level;
  logger.level = "info";
  const write = vi.spyOn(process.stdout, "write").mockImplementation((chunk) => {
    lines.push(String(chunk));
    return true;
  });
  const stop = startSchedules({
    db: storage.db,
    disks: storage.disks,
    env: { ...storage.env, cleanupIntervalMs: 50 },
    replica: "test-host:1",
  });
  try {
    for (let i = 0; i < 100 && !lines.some((l) => l.includes("scheduled cleanup finished")); i++) await sleep(50);
  } finally {
    await stop();
    write.mockRestore();
    logger.level = level;
  }
  const finished = lines.map((l) => JSON.parse(l)).find((l) => l.message === "scheduled cleanup finished");
  expect(finished).toMatchObject({ level: "info", found: 0, cleaned: 0, failed: 0 });
  const anchor = (finished as { auditAnchor: string }).auditAnchor;
  expect(anchor).toMatch(/^\d+:[0-9a-f]{64}$/);

  // The anchor is a row of the trail (the cleanup's own run row or a later one) with its hash.
  const recorded = parseAnchor(anchor);
  if (!recorded) throw new Error(`not an anchor: ${anchor}`);
  expect(await verifyAuditChain(storage.db, { anchor: recorded })).toMatchObject({ ok: true });
  expect(await verifyAuditChain(storage.db, { anchor: { ...recorded, rowHash: "0".repeat(64) } })).toMatchObject({
    ok: false,
    problem: "anchor_mismatch",
  });
  const runs = await storage.sql`select count(*)::int as n from phi_file_tracking where action = 'cleanup_run'`;
  expect(runs[0]?.n).toBeGreaterThanOrEqual(1);
});

test("the scheduled audit verification stores a signed checkpoint and the next run starts from it", async () => {
  const env = { ...storage.env, cleanupIntervalMs: 0, auditVerifyIntervalMs: 40 };
  const before = await latestAuditCheckpoint(storage.db);
  const stop = startSchedules({ db: storage.db, disks: storage.disks, env, replica: "test-host:1" });
  try {
    let first = before;
    for (let i = 0; i < 100 && first?.id === before?.id; i++) {
      await sleep(40);
      first = await latestAuditCheckpoint(storage.db);
    }
    if (!first || first.id === before?.id) throw new Error("no checkpoint was stored");
    expect(first).toMatchObject({ ok: true });
    expect(checkpointTrusted(checkpointKey(env.checkpointSecret), first)).toBe(true);
    expect(checkpointTrusted(checkpointKey("not the service's key"), first)).toBe(false);
    const appended = await appendAudit(storage.db, {
      action: "stream_upload",
      outcome: "success",
      serverRole: "services",
    });
    let next = first;
    for (let i = 0; i < 100 && next.lastId < appended.id; i++) {
      await sleep(40);
      next = (await latestAuditCheckpoint(storage.db)) ?? next;
    }
    expect(next).toMatchObject({ ok: true, lastId: appended.id, lastHash: appended.rowHash });
    expect(next.startedAfterId).toBeGreaterThanOrEqual(first.lastId);
  } finally {
    await stop();
  }
});

/** The cleanup runs' audit rows, oldest first: who ran each and which interval's run it was. */
async function cleanupRuns(s: typeof storage) {
  const rows = await s.sql<{ hostname: string; replica: string | null; scheduledAt: string | null }[]>`
    select hostname, metadata->>'replica' as replica, metadata->>'scheduledAt' as "scheduledAt"
    from phi_file_tracking where action = 'cleanup_run' order by id`;
  return rows.map((r) => ({ ...r, at: r.scheduledAt ? Date.parse(r.scheduledAt) : Number.NaN }));
}

const jobRuns = async (outcome: string) =>
  (await metrics.jobRuns.get()).values.find((v) => v.labels.job === "cleanup" && v.labels.outcome === outcome)?.value ??
  0;

test("two replicas on one database run the cleanup once per interval between them, and audit who ran it", async () => {
  const own = await startTestStorage();
  const interval = 400;
  const env = { ...own.env, cleanupIntervalMs: interval, auditVerifyIntervalMs: 0 };
  const successBefore = await jobRuns("success");
  const skippedBefore = await jobRuns("skipped");
  const started = Date.now();
  const stopA = startSchedules({ db: own.db, disks: own.disks, env, replica: "host-a:8001" });
  // B starts half an interval later: two independent timers would run the cleanup twice per interval.
  await sleep(interval / 2);
  const stopB = startSchedules({ db: own.db, disks: own.disks, env, replica: "host-a:8002" });
  try {
    await sleep(interval * 5);
    await Promise.all([stopA(), stopB()]);
    const window = Date.now() - started;
    const runs = await cleanupRuns(own);
    expect(runs.length).toBeGreaterThanOrEqual(3);
    expect(runs.length).toBeLessThanOrEqual(Math.floor(window / interval) + 1);
    for (const run of runs) {
      expect(["host-a:8001", "host-a:8002"]).toContain(run.replica);
      expect(run.hostname).toBe(hostname());
    }
    // One row per interval's run, each started at least an interval after the one before (database clock).
    const starts = runs.map((r) => r.at);
    expect(new Set(starts).size).toBe(runs.length);
    for (let i = 1; i < starts.length; i++) {
      expect((starts[i] as number) - (starts[i - 1] as number)).toBeGreaterThanOrEqual(interval);
    }
    // Each run counted once as a success by the replica that ran it; the other counted "skipped".
    expect((await jobRuns("success")) - successBefore).toBe(runs.length);
    expect((await jobRuns("skipped")) - skippedBefore).toBeGreaterThanOrEqual(1);
    const [row] = (await scheduledJobRunsList(own.db)).filter((r) => r.job === "cleanup");
    expect(row).toMatchObject({ lastReplica: runs.at(-1)?.replica, lastOutcome: "success" });
  } finally {
    await Promise.all([stopA(), stopB()]);
    await own.stop();
  }
});

test("a replica that died during its run holds the job one interval only: the next runs on another replica", async () => {
  const own = await startTestStorage();
  const interval = 400;
  const env = { ...own.env, cleanupIntervalMs: interval, auditVerifyIntervalMs: 0 };
  // The dead replica's claim: it started this interval's cleanup and never finished.
  const dead = await claimScheduledRun(own.db, { job: "cleanup", intervalMs: interval, replica: "dead-host:8001" });
  expect(dead.claimed).toBe(true);
  const stop = startSchedules({ db: own.db, disks: own.disks, env, replica: "live-host:8002" });
  try {
    // The live replica looks every 100 ms: it runs the job once the dead one's interval has passed, not before.
    let runs = await cleanupRuns(own);
    for (let i = 0; i < 60 && runs.length === 0; i++) {
      await sleep(50);
      runs = await cleanupRuns(own);
    }
    expect(runs[0]).toMatchObject({ replica: "live-host:8002", hostname: hostname() });
    expect((runs[0]?.at as number) - dead.startedAt.getTime()).toBeGreaterThanOrEqual(interval);
    await stop();
    const [row] = await scheduledJobRunsList(own.db);
    expect(row).toMatchObject({ job: "cleanup", lastReplica: "live-host:8002", lastOutcome: "success" });
    expect(row?.lastFinishedAt).toBeInstanceOf(Date);
  } finally {
    await stop();
    await own.stop();
  }
});
