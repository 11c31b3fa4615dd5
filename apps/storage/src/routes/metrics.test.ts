import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, expect, test } from "vitest";
import { startTestStorage, TEST_API_KEY } from "../test-server";

let storage: Awaited<ReturnType<typeof startTestStorage>>;
beforeAll(async () => {
  storage = await startTestStorage();
});
afterAll(async () => {
  await storage?.stop();
});

const scrape = (headers: Record<string, string>) => fetch(`${storage.url}/metrics`, { headers });
/** The value of the sample of `name` whose labels include `labels`, from Prometheus's text format (0 if none). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split("\n")) {
    const match = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries([...(match[2] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) return Number(match[3]);
  }
  return 0;
}

test("the scrape needs the internal key, as X-API-Key or as Prometheus's bearer token", async () => {
  for (const headers of [{}, { authorization: "Bearer wrong" }, { "x-api-key": "wrong" }] as Record<string, string>[]) {
    const refused = await scrape(headers);
    expect(refused.status).toBe(401);
    expect(await refused.json()).toMatchObject({ error: { code: "unauthorized" } });
  }
  // Only the scrape takes a bearer token; the storage API itself wants the X-API-Key.
  const health = await fetch(`${storage.url}/internal/storage/health`, {
    headers: { authorization: `Bearer ${TEST_API_KEY}` },
  });
  expect(health.status).toBe(401);
  expect((await scrape({ authorization: `Bearer ${TEST_API_KEY}` })).status).toBe(200);
});

test("an upload shows in request durations by route and status, bytes in, and audit append latency", async () => {
  const before = await (await scrape({ "x-api-key": TEST_API_KEY })).text();
  const uploads = [
    "depot_http_request_duration_seconds_count",
    { route: "/internal/storage/upload", status: "201" },
  ] as const;
  const appends = ["depot_audit_append_duration_seconds_count", { service: "storage" }] as const;
  const bytesIn = ["depot_http_bytes_total", { direction: "in" }] as const;

  const data = randomBytes(300_000);
  const res = await fetch(`${storage.url}/internal/storage/upload?key=metrics/one`, {
    method: "POST",
    headers: { "x-api-key": TEST_API_KEY },
    body: data,
  });
  expect(res.status).toBe(201);
  await res.arrayBuffer();
  await new Promise((r) => setTimeout(r, 50));

  const after = await (await scrape({ "x-api-key": TEST_API_KEY })).text();
  expect(sample(after, ...uploads) - sample(before, ...uploads)).toBe(1);
  expect(sample(after, ...appends)).toBeGreaterThan(sample(before, ...appends));
  expect(sample(after, ...bytesIn) - sample(before, ...bytesIn)).toBeGreaterThanOrEqual(data.length);
  expect(after).toMatch(/nodejs_eventloop_lag_seconds\{service="storage"\}/);
  expect(after).toContain('depot_uploads_in_flight{service="storage"} 0');
});
