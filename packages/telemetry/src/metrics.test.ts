import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, expect, test } from "vitest";
import { instrumentServer, metrics, registry, routeLabel, startProcessMetrics } from "./metrics";

const routes = [
  [/^\/upload$/, "/upload"],
  [/^\/files\/[^/]+$/, "/files/:id"],
] as const;

const server = createServer((req, res) => {
  if (req.url === "/upload") {
    let bytes = 0;
    req.on("data", (chunk: Buffer) => {
      bytes += chunk.length;
    });
    req.on("end", () => res.end(String(bytes)));
    return;
  }
  res.statusCode = req.url?.startsWith("/files/") ? 200 : 404;
  res.end("x".repeat(1000));
});
instrumentServer(server, { routes, isUpload: (method, route) => method === "POST" && route === "/upload" });
let url: string;
beforeAll(async () => {
  startProcessMetrics("storage");
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

/** The sum of a series' samples with these labels (a histogram's `_count` is named as such). */
async function value(name: string, labels: Record<string, string> = {}): Promise<number> {
  const base = name.replace(/_count$/, "");
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === base);
  const matching = (metric?.values ?? []).filter(
    (v) =>
      ((v as { metricName?: string }).metricName ?? base) === name &&
      Object.entries(labels).every(([k, l]) => (v.labels as Record<string, unknown>)[k] === l),
  );
  return matching.reduce((sum, v) => sum + v.value, 0);
}

test("paths are counted under their template, never as raw paths", () => {
  expect(routeLabel("/files/0b5e1f0e-3c5a-4bb6-9c3e-1b2a3c4d5e6f", routes)).toBe("/files/:id");
  expect(routeLabel("/files/a/b", routes)).toBe("other");
  expect(routeLabel("/probe-12345", routes)).toBe("other");
});

test("each request records its duration by route and status, and the bytes it moved", async () => {
  const before = {
    files: await value("depot_http_request_duration_seconds_count", { route: "/files/:id", status: "200" }),
    other: await value("depot_http_request_duration_seconds_count", { route: "other", status: "404" }),
    in: await value("depot_http_bytes_total", { direction: "in" }),
    out: await value("depot_http_bytes_total", { direction: "out" }),
  };
  await (await fetch(`${url}/files/abc`)).text();
  await (await fetch(`${url}/nothing-here`)).text();
  const posted = await fetch(`${url}/upload`, { method: "POST", body: Buffer.alloc(200_000) });
  expect(await posted.text()).toBe("200000");
  // The server's "close" follows the client's read of the answer by a tick.
  await new Promise((r) => setTimeout(r, 50));
  expect(await value("depot_http_request_duration_seconds_count", { route: "/files/:id", status: "200" })).toBe(
    before.files + 1,
  );
  expect(await value("depot_http_request_duration_seconds_count", { route: "other", status: "404" })).toBe(
    before.other + 1,
  );
  expect((await value("depot_http_bytes_total", { direction: "in" })) - before.in).toBeGreaterThanOrEqual(190_000);
  expect((await value("depot_http_bytes_total", { direction: "out" })) - before.out).toBeGreaterThanOrEqual(2000);
  expect(await value("depot_uploads_in_flight")).toBe(0);
});

test("an upload is in flight while its body streams", async () => {
  const { request } = await import("node:http");
  const req = request(`${url}/upload`, { method: "POST", headers: { "content-length": "10" } });
  req.write("12345");
  for (let i = 0; i < 50 && (await value("depot_uploads_in_flight")) === 0; i++) {
    await new Promise((r) => setTimeout(r, 20));
  }
  expect(await value("depot_uploads_in_flight")).toBe(1);
  const answered = new Promise<void>((resolve) => req.on("response", (res) => res.resume().on("end", resolve)));
  req.end("67890");
  await answered;
  for (let i = 0; i < 50 && (await value("depot_uploads_in_flight")) !== 0; i++) {
    await new Promise((r) => setTimeout(r, 20));
  }
  expect(await value("depot_uploads_in_flight")).toBe(0);
});

test("the scrape has the tier's label, event-loop lag and the audit and job series", async () => {
  metrics.jobRuns.inc({ job: "cleanup", outcome: "success" });
  const text = await registry.metrics();
  expect(text).toMatch(/nodejs_eventloop_lag_seconds\{service="storage"\}/);
  expect(text).toContain("depot_audit_append_duration_seconds_bucket");
  expect(text).toMatch(/depot_scheduled_job_runs_total\{job="cleanup",outcome="success",service="storage"\} 1/);
});
