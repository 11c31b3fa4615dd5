import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, expect, test } from "vitest";
import { createDb, type Database } from "../client";
import { startHeartbeat } from "../heartbeat";
import { createTestDatabase, type TestDatabase } from "../testing";
import {
  claimScheduledRun,
  finishScheduledRun,
  listReplicas,
  pruneReplicas,
  type ReplicaHeartbeat,
  recordHeartbeat,
  scheduledJobRunsList,
} from "./replicas";

let database: TestDatabase;
let db: Database;
let close: () => Promise<void>;
beforeAll(async () => {
  database = await createTestDatabase();
  ({ db, close } = createDb(database.url, { max: 8 }));
});
afterAll(async () => {
  await close();
  await database.drop();
});

const replica = (id: string, over: Partial<ReplicaHeartbeat> = {}): ReplicaHeartbeat => ({
  id,
  role: "services",
  host: "127.0.0.1",
  port: 8001,
  url: "http://127.0.0.1:8001",
  pid: 4242,
  version: "1.2.3",
  defaultDisk: "workspace",
  driver: "local",
  heartbeatIntervalMs: 1_000,
  startedAt: new Date(),
  ...over,
});

test("of many replicas claiming one job at once, exactly one wins; none wins again before the interval", async () => {
  const claims = await Promise.all(
    Array.from({ length: 8 }, (_, i) => claimScheduledRun(db, { job: "race", intervalMs: 60_000, replica: `r${i}` })),
  );
  const winners = claims.filter((c) => c.claimed);
  expect(winners).toHaveLength(1);
  // The losers name the winner's run.
  for (const c of claims) expect(c).toMatchObject({ replica: winners[0]?.replica, startedAt: winners[0]?.startedAt });
  expect(await claimScheduledRun(db, { job: "race", intervalMs: 60_000, replica: "r0" })).toMatchObject({
    claimed: false,
  });
});

test("a claim wins again once the interval has passed since the last start, even if that run never finished", async () => {
  const first = await claimScheduledRun(db, { job: "takeover", intervalMs: 200, replica: "dies" });
  expect(first.claimed).toBe(true);
  expect((await claimScheduledRun(db, { job: "takeover", intervalMs: 200, replica: "lives" })).claimed).toBe(false);
  await sleep(250);
  const second = await claimScheduledRun(db, { job: "takeover", intervalMs: 200, replica: "lives" });
  expect(second).toMatchObject({ claimed: true, replica: "lives" });
  expect(second.startedAt.getTime() - first.startedAt.getTime()).toBeGreaterThanOrEqual(200);

  // The dead replica's late finish does not overwrite the run the other one claimed.
  await finishScheduledRun(db, { job: "takeover", replica: "dies", startedAt: first.startedAt, outcome: "success" });
  await finishScheduledRun(db, { job: "takeover", replica: "lives", startedAt: second.startedAt, outcome: "failure" });
  const row = (await scheduledJobRunsList(db)).find((r) => r.job === "takeover");
  expect(row).toMatchObject({ lastReplica: "lives", lastOutcome: "failure" });
  expect(row?.lastFinishedAt).toBeInstanceOf(Date);
});

test("heartbeats list each replica with its age; a silent one turns stale, a clean stop removes its row", async () => {
  const stopA = startHeartbeat(db, replica("host-a:8001", { heartbeatIntervalMs: 50 }));
  // B beats once and its process dies: no timer, no clean stop.
  await recordHeartbeat(db, replica("host-a:8002", { port: 8002, heartbeatIntervalMs: 50 }));
  await sleep(20);
  const both = await listReplicas(db, { role: "services" });
  expect(both.map((r) => r.id).sort()).toEqual(["host-a:8001", "host-a:8002"]);
  for (const r of both) {
    expect(r).toMatchObject({ role: "services", version: "1.2.3", driver: "local", alive: true });
    expect(r.lastSeenAgoMs).toBeLessThan(150);
  }

  // Three of B's intervals later it is stale; A's beats kept it alive.
  await sleep(250);
  const later = await listReplicas(db);
  const alive = later.find((r) => r.id === "host-a:8001");
  expect(alive).toMatchObject({ alive: true });
  expect(alive?.lastSeenAgoMs).toBeLessThan(150);
  const stale = later.find((r) => r.id === "host-a:8002");
  expect(stale).toMatchObject({ alive: false });
  expect(stale?.lastSeenAgoMs).toBeGreaterThan(150);

  // A's clean stop removes its row; B's stays until it is pruned.
  await stopA();
  expect((await listReplicas(db)).map((r) => r.id)).toEqual(["host-a:8002"]);
  expect(await pruneReplicas(db, 60_000)).toBe(0);
  expect(await pruneReplicas(db, 100)).toBe(1);
  expect(await listReplicas(db)).toEqual([]);
});

test("a web heartbeat is listed apart from the storage replicas by role", async () => {
  await recordHeartbeat(db, replica("web-1:3000", { role: "web", port: 3000, defaultDisk: null, driver: null }));
  expect((await listReplicas(db, { role: "services" })).map((r) => r.id)).toEqual([]);
  expect((await listReplicas(db, { role: "web" })).map((r) => r.id)).toEqual(["web-1:3000"]);
});
