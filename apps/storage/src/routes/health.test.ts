import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { recordHeartbeat } from "@depot/db";
import { afterAll, beforeAll, expect, test } from "vitest";
import { replicaId, startReplicaHeartbeat } from "../ops/replica";
import { type Json, startTestStorage, TEST_API_KEY } from "../test-server";

let storage: Awaited<ReturnType<typeof startTestStorage>>;
beforeAll(async () => {
  storage = await startTestStorage();
});
afterAll(async () => {
  await storage?.stop();
});

const health = (headers: Record<string, string> = {}) => fetch(`${storage.url}/internal/storage/health`, { headers });

test("answers 200 with a real disk probe when the API key is right", async () => {
  const res = await health({ "x-api-key": TEST_API_KEY });
  expect(res.status).toBe(200);
  const body = await res.json();
  expect(body).toMatchObject({
    status: "ok",
    serverRole: "services",
    driver: "local",
    database: true,
    disks: [{ name: "workspace", driver: "local", ok: true }],
  });
});

test.each([
  ["missing", {}],
  ["empty", { "x-api-key": "" }],
  ["wrong, same length", { "x-api-key": TEST_API_KEY.replace(/.$/, "X") }],
  ["wrong, other length", { "x-api-key": "short" }],
])("refuses a %s key with 401 JSON", async (_name, headers) => {
  const res = await health(headers);
  expect(res.status).toBe(401);
  expect(await res.json()).toEqual({ error: { code: "unauthorized", message: "missing or invalid X-API-Key" } });
});

test("an unknown route without a key is 401, not 404", async () => {
  const res = await fetch(`${storage.url}/internal/storage/nope`);
  expect(res.status).toBe(401);
});

test("reports degraded when its disk cannot be written", async () => {
  const notAFolder = join(storage.root, "plain-file");
  writeFileSync(notAFolder, "x");
  const broken = await startTestStorage({ env: { NAS_WORKSPACE_PATH: join(notAFolder, "disk") } });
  try {
    const res = await fetch(`${broken.url}/internal/storage/health`, { headers: { "x-api-key": TEST_API_KEY } });
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ status: "degraded", disks: [{ ok: false }] });
  } finally {
    await broken.stop();
  }
});

test("lists every storage replica of the database with its heartbeat's age, alive or stale", async () => {
  // A second replica on the same database and disk, each beating every 50 ms, and a third that beat once and died.
  const env = { HEARTBEAT_INTERVAL_SECONDS: "0.05" };
  const a = await startTestStorage({ env });
  const b = await startTestStorage({ env, reuse: { databaseUrl: a.databaseUrl, root: a.root } });
  const port = (s: typeof a) => Number(new URL(s.url).port);
  const ids = [replicaId(a.env, port(a)), replicaId(b.env, port(b))];
  const stopA = startReplicaHeartbeat(a, { id: ids[0] as string, port: port(a) });
  const stopB = startReplicaHeartbeat(b, { id: ids[1] as string, port: port(b) });
  try {
    await recordHeartbeat(a.db, {
      id: "gone-host:8001",
      role: "services",
      host: "10.0.0.9",
      port: 8001,
      pid: 1,
      version: "old",
      heartbeatIntervalMs: 50,
      startedAt: new Date(),
    });
    await sleep(300);
    const res = await fetch(`${b.url}/internal/storage/health`, { headers: { "x-api-key": TEST_API_KEY } });
    expect(res.status).toBe(200);
    const replicas = ((await res.json()) as Json).replicas as Json[];
    const byId = new Map(replicas.map((r) => [r.id, r]));
    expect([...byId.keys()].sort()).toEqual([...ids, "gone-host:8001"].sort());
    for (const [id, s] of [
      [ids[0], a],
      [ids[1], b],
    ] as const) {
      expect(byId.get(id)).toMatchObject({
        role: "services",
        host: "127.0.0.1",
        port: port(s),
        url: s.url,
        pid: process.pid,
        defaultDisk: "workspace",
        driver: "local",
        heartbeatIntervalMs: 50,
        alive: true,
      });
      expect(byId.get(id)?.lastSeenAgoMs).toBeLessThan(150);
    }
    expect(byId.get("gone-host:8001")).toMatchObject({ alive: false, version: "old" });
    expect(byId.get("gone-host:8001")?.lastSeenAgoMs).toBeGreaterThanOrEqual(250);

    // B shuts down cleanly: A's answer no longer lists it.
    await stopB();
    const after = (await (
      await fetch(`${a.url}/internal/storage/health`, { headers: { "x-api-key": TEST_API_KEY } })
    ).json()) as Json;
    expect((after.replicas as Json[]).map((r) => r.id).sort()).toEqual([ids[0], "gone-host:8001"].sort());
  } finally {
    await stopB();
    await stopA();
    await b.stop();
    await a.stop();
  }
});
