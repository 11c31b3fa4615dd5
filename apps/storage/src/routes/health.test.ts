import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { startTestStorage, TEST_API_KEY } from "../test-server";

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
