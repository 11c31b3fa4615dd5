import { setTimeout as sleep } from "node:timers/promises";
import {
  appendAudit,
  checkpointKey,
  checkpointTrusted,
  latestAuditCheckpoint,
  parseAnchor,
  verifyAuditChain,
} from "@depot/db";
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
  const stop = startSchedules({ db: storage.db, disks: storage.disks, env: { ...storage.env, cleanupIntervalMs: 50 } });
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
  const stop = startSchedules({ db: storage.db, disks: storage.disks, env });
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
