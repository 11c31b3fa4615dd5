import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { Service } from "./log";

/**
 * The process's one registry and its series: both tiers, and the db package's audit writer, record into it.
 * Kept on globalThis because Next bundles its own copy of this module beside the one the web's server.ts
 * loads; both must count into the registry that /metrics serves.
 */
function createMetrics(registry: Registry) {
  return {
    requestDuration: new Histogram({
      name: "depot_http_request_duration_seconds",
      help: "Time from a request's arrival to its answer's end (or the connection's loss), by route and status",
      labelNames: ["method", "route", "status"] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800],
      registers: [registry],
    }),
    bytes: new Counter({
      name: "depot_http_bytes_total",
      help: "Bytes read from clients (in) and written to them (out), headers included",
      labelNames: ["direction"] as const,
      registers: [registry],
    }),
    uploadsInFlight: new Gauge({
      name: "depot_uploads_in_flight",
      help: "Upload requests (multipart posts and tus PATCHes) whose body is still streaming",
      registers: [registry],
    }),
    auditAppend: new Histogram({
      name: "depot_audit_append_duration_seconds",
      help: "Time to append one row to the hash-chained audit trail (lock, link, insert)",
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
      registers: [registry],
    }),
    jobRuns: new Counter({
      name: "depot_scheduled_job_runs_total",
      help: "Scheduled job runs by job and outcome",
      labelNames: ["job", "outcome"] as const,
      registers: [registry],
    }),
  };
}

type Telemetry = { registry: Registry; metrics: ReturnType<typeof createMetrics>; started: boolean };
const GLOBAL = Symbol.for("depot.telemetry");
const holder = globalThis as typeof globalThis & { [GLOBAL]?: Telemetry };
if (!holder[GLOBAL]) {
  const registry = new Registry();
  holder[GLOBAL] = { registry, metrics: createMetrics(registry), started: false };
}
const telemetry: Telemetry = holder[GLOBAL];

export const registry = telemetry.registry;
export const metrics = telemetry.metrics;

/** Labels every series with the tier and adds Node's process metrics (event-loop lag, heap, GC, handles). */
export function startProcessMetrics(service: Service): void {
  if (telemetry.started) return;
  telemetry.started = true;
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
}

/** A route template and the label it is counted under, e.g. `[/^\/api\/files\/[^/]+$/, "/api/files/:id"]`. */
export type RouteTemplate = readonly [pattern: RegExp, label: string];

/**
 * The label of a path: its template, or "other". Never the raw path: ids and probing requests would make the
 * number of series unbounded.
 */
export function routeLabel(pathname: string, routes: readonly RouteTemplate[]): string {
  for (const [pattern, label] of routes) if (pattern.test(pathname)) return label;
  return "other";
}

export interface InstrumentOptions {
  routes: readonly RouteTemplate[];
  /** Whether a request carries an upload body, for the in-flight gauge. */
  isUpload: (method: string, route: string) => boolean;
}

/** Records every request of a server: duration by route and status, bytes in and out, uploads in flight. */
export function instrumentServer(server: Server, options: InstrumentOptions): void {
  // Per connection, the bytes already counted: a request's first body bytes arrive with its headers, before
  // its "request" event, so each answer counts what the socket moved since the previous one.
  const counted = new WeakMap<Socket, { read: number; written: number }>();
  const countSocket = (socket: Socket) => {
    const seen = counted.get(socket) ?? { read: 0, written: 0 };
    metrics.bytes.inc({ direction: "in" }, Math.max(0, socket.bytesRead - seen.read));
    metrics.bytes.inc({ direction: "out" }, Math.max(0, socket.bytesWritten - seen.written));
    counted.set(socket, { read: socket.bytesRead, written: socket.bytesWritten });
  };
  server.prependListener("request", (req: IncomingMessage, res: ServerResponse) => {
    const started = process.hrtime.bigint();
    const socket = req.socket;
    const method = req.method ?? "GET";
    const route = routeLabel(new URL(req.url ?? "/", "http://depot").pathname, options.routes);
    const upload = options.isUpload(method, route);
    if (upload) metrics.uploadsInFlight.inc();
    res.once("close", () => {
      if (upload) metrics.uploadsInFlight.dec();
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const status = res.writableFinished ? String(res.statusCode) : "aborted";
      metrics.requestDuration.observe({ method, route, status }, seconds);
      countSocket(socket);
    });
  });
}

/** Answers a scrape in Prometheus's text format. */
export async function sendMetrics(res: ServerResponse): Promise<void> {
  const body = await registry.metrics();
  res.writeHead(200, { "content-type": registry.contentType, "cache-control": "no-store" });
  res.end(body);
}
