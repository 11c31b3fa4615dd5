import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createApiKeyCheck, DepotError } from "@depot/contract";
import { closeGracefullyAfterEarlyAnswers, closeIdleConnections } from "@depot/contract/connection";
import { createDb } from "@depot/db";
import { instrumentServer, sendMetrics, startProcessMetrics } from "@depot/telemetry";
import { type RequestContext, requestContext, type StorageContext } from "./http/context";
import { sendError } from "./http/respond";
import { describeError, log } from "./log";
import { health } from "./routes/health";
import * as maintenance from "./routes/maintenance";
import * as objects from "./routes/objects";
import { createTusRoute } from "./routes/tus";
import { PgLocker } from "./tus/locker";

export type Handler = (ctx: StorageContext, request: RequestContext, params: string[]) => Promise<void>;
type Route = { path: RegExp; label: string; methods: Partial<Record<string, Handler>> };

const baseRoutes: Route[] = [
  { path: /^\/internal\/storage\/health$/, label: "/internal/storage/health", methods: { GET: health } },
  {
    path: /^\/internal\/storage\/upload$/,
    label: "/internal/storage/upload",
    methods: { POST: objects.upload, PUT: objects.upload },
  },
  {
    path: /^\/internal\/storage\/download$/,
    label: "/internal/storage/download",
    methods: { GET: objects.download, HEAD: objects.download },
  },
  {
    path: /^\/internal\/storage\/delete$/,
    label: "/internal/storage/delete",
    methods: { DELETE: objects.remove, POST: objects.remove },
  },
  {
    path: /^\/internal\/storage\/delete_prefix$/,
    label: "/internal/storage/delete_prefix",
    methods: { POST: objects.removePrefix, DELETE: objects.removePrefix },
  },
  { path: /^\/internal\/storage\/list$/, label: "/internal/storage/list", methods: { GET: objects.list } },
  { path: /^\/internal\/storage\/metadata$/, label: "/internal/storage/metadata", methods: { GET: objects.metadata } },
  { path: /^\/internal\/storage\/exists$/, label: "/internal/storage/exists", methods: { GET: objects.exists } },
  { path: /^\/internal\/storage\/usage$/, label: "/internal/storage/usage", methods: { GET: objects.usage } },
  {
    path: /^\/internal\/storage\/cleanup$/,
    label: "/internal/storage/cleanup",
    methods: { POST: maintenance.cleanup },
  },
  {
    path: /^\/internal\/storage\/verify_integrity$/,
    label: "/internal/storage/verify_integrity",
    methods: { POST: maintenance.verifyIntegrity },
  },
  { path: /^\/metrics$/, label: "/metrics", methods: { GET: async (_ctx, request) => sendMetrics(request.res) } },
];

const TUS_PATH = /^\/internal\/tus(\/[A-Za-z0-9]{0,64})?$/;

/** Refusals of where a request points (bad key, unknown disk) are audited as denied. */
const DENIALS = new Set(["invalid_key", "unknown_disk"]);

/** The internal storage API. Every route needs the X-API-Key; nothing here is for the public network. */
export function createStorageServer(ctx: StorageContext): Server {
  const isAuthorized = createApiKeyCheck(ctx.env.apiKey);
  // Prometheus sends its credentials as a bearer token; only the scrape accepts that form.
  const isScrapeAuthorized = createApiKeyCheck(ctx.env.apiKey, { allowBearer: true });
  startProcessMetrics("storage");
  // The tus locks live in PostgreSQL, one reserved connection per request holding a lock.
  const locks = createDb(ctx.env.databaseUrl, { max: 32 });
  const locker = new PgLocker(locks.sql);
  const tus = createTusRoute(ctx, locker);
  const methods = { OPTIONS: tus, POST: tus, HEAD: tus, PATCH: tus, DELETE: tus, GET: tus };
  const routes: Route[] = [
    ...baseRoutes,
    { path: /^\/internal\/tus\/?$/, label: "/internal/tus", methods },
    { path: /^\/internal\/tus\/([A-Za-z0-9]{1,64})$/, label: "/internal/tus/:id", methods },
  ];

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const request = requestContext(ctx, req, res);
    const path = request.url.pathname;
    res.setHeader("x-request-id", request.requestId);
    // tus: every answer but OPTIONS carries Tus-Resumable, refusals by this server (API key, method) included.
    if (TUS_PATH.test(path) && req.method !== "OPTIONS") res.setHeader("tus-resumable", "1.0.0");
    try {
      if (!(path === "/metrics" ? isScrapeAuthorized(req) : isAuthorized(req))) {
        log("warn", "request refused: missing or wrong API key", {
          requestId: request.requestId,
          method: req.method,
          path,
          remote: req.socket.remoteAddress,
        });
        throw new DepotError("unauthorized", "missing or invalid X-API-Key");
      }
      for (const route of routes) {
        const match = route.path.exec(path);
        if (!match) continue;
        const handler = route.methods[req.method ?? "GET"];
        if (!handler) throw new DepotError("bad_request", `method ${req.method} is not allowed here`);
        await handler(ctx, request, match.slice(1));
        return;
      }
      throw new DepotError("not_found", "no such route");
    } catch (error) {
      if (error instanceof DepotError && DENIALS.has(error.code)) {
        log("warn", "request refused", { requestId: request.requestId, method: req.method, path, code: error.code });
        await request
          .audit({
            action: "access_denied",
            outcome: "denied",
            error: error.code,
            metadata: { method: req.method, path },
          })
          .catch(() => {});
      } else if (!(error instanceof DepotError)) {
        log("error", "request failed", {
          requestId: request.requestId,
          method: req.method,
          path,
          error: describeError(error),
        });
      }
      sendError(res, error);
    }
  };

  const server = createServer(
    // Uploads may take hours: no total request timeout, only an idle timeout (no bytes for a while).
    { requestTimeout: 0, headersTimeout: 60_000, keepAliveTimeout: 5_000 },
    (req, res) => void handle(req, res),
  );
  instrumentServer(server, {
    routes: routes.map((route) => [route.path, route.label] as const),
    isUpload: (method, route) =>
      (route === "/internal/storage/upload" && (method === "POST" || method === "PUT")) ||
      (route === "/internal/tus/:id" && method === "PATCH") ||
      (route === "/internal/tus" && method === "POST"),
  });
  server.once("close", () => {
    void locker.stop().then(() => locks.close());
  });
  closeIdleConnections(server, ctx.env.idleTimeoutMs);
  closeGracefullyAfterEarlyAnswers(server);
  return server;
}
