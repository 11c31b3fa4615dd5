import { createDb, type Database, recordHeartbeat } from "@depot/db";
import { createTestDatabase, type TestDatabase } from "@depot/db/testing";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, expect, test } from "vitest";
import { formatAge, webHealth } from "./health";

let database: TestDatabase;
let db: Database;
let close: () => Promise<void>;
beforeAll(async () => {
  database = await createTestDatabase();
  ({ db, close } = createDb(database.url, { max: 2 }));
});
afterAll(async () => {
  await close();
  await database.drop();
});

const beat = (id: string, role: "services" | "web", port: number) =>
  recordHeartbeat(db, {
    id,
    role,
    host: "10.0.0.5",
    port,
    pid: 100 + port,
    version: "v1.4.0",
    heartbeatIntervalMs: 10_000,
    startedAt: new Date(),
  });

test("lists every storage replica and web server, alive or stale, and counts the live storage replicas", async () => {
  await beat("store-1:8001", "services", 8001);
  await beat("store-2:8001", "services", 8001);
  await beat("web-1:8000", "web", 8000);
  // store-2 last beat a minute ago: six of its 10 s intervals.
  await db.execute(
    sql`update service_replicas set last_seen_at = now() - interval '1 minute' where id = 'store-2:8001'`,
  );

  const health = await webHealth(db);
  expect(health).toMatchObject({ status: "ok", serverRole: "web", database: true, storageReplicasAlive: 1 });
  const byId = Object.fromEntries(health.replicas.map((r) => [r.id, r]));
  expect(Object.keys(byId).sort()).toEqual(["store-1:8001", "store-2:8001", "web-1:8000"]);
  expect(byId["store-1:8001"]).toMatchObject({ role: "services", alive: true, version: "v1.4.0" });
  expect(byId["store-2:8001"]).toMatchObject({ role: "services", alive: false });
  expect(byId["store-2:8001"]?.lastSeenAgoMs).toBeGreaterThanOrEqual(60_000);
  expect(byId["web-1:8000"]).toMatchObject({ role: "web", alive: true });
});

test("without its database the web reports degraded and no replicas", async () => {
  const unreachable = createDb("postgres://postgres@127.0.0.1:1/none", { max: 1 });
  try {
    expect(await webHealth(unreachable.db)).toMatchObject({ status: "degraded", database: false, replicas: [] });
  } finally {
    await unreachable.close();
  }
});

test("heartbeat ages read in the unit that fits", () => {
  expect(formatAge(4_200)).toBe("4 s");
  expect(formatAge(185_000)).toBe("3 min");
  expect(formatAge(3 * 3600_000)).toBe("3 h");
  expect(formatAge(5 * 86_400_000)).toBe("5 d");
});
