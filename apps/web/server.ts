import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { hostname } from "node:os";
import { fileURLToPath } from "node:url";
import { createApiKeyCheck, DepotError } from "@depot/contract";
import { closeGracefullyAfterEarlyAnswers, closeIdleConnections } from "@depot/contract/connection";
import { releaseVersion, startHeartbeat } from "@depot/db";
import { instrumentServer, sendMetrics, startProcessMetrics } from "@depot/telemetry";
import next from "next";
import { clientAddress } from "./lib/client-address";
import { db } from "./lib/db";
import { EnvError, getEnv } from "./lib/env";
import { webHealth } from "./lib/health";
import { logger } from "./lib/log";
import { refuseBeforeNext } from "./lib/methods";
import { isUploadRequest, WEB_ROUTES } from "./lib/metrics";
import { CLIENT_IP_HEADER, REQUEST_ID_HEADER } from "./lib/request";

// Our own HTTP server rather than `next start`: Node's default 300 s request timeout would cut long
// uploads, so uploads get no total limit and an idle timeout instead.
let env: ReturnType<typeof getEnv>;
try {
  env = getEnv();
} catch (error) {
  if (!(error instanceof EnvError)) throw error;
  console.error(error.message);
  process.exit(1);
}

process.env.NEXTAUTH_URL ??= env.publicUrl;
process.env.NEXTAUTH_SECRET ??= env.authSecret;

const dev = process.argv.includes("--dev");
const app = next({ dev, dir: fileURLToPath(new URL(".", import.meta.url)), hostname: env.host, port: env.port });
await app.prepare();
const handle = app.getRequestHandler();

// Prometheus's scrape, behind the internal API key (or the same key as a bearer token), answered before Next.
const isScrapeAuthorized = createApiKeyCheck(env.apiKey, { allowBearer: true });
startProcessMetrics("web");

const server = createServer({ requestTimeout: 0, headersTimeout: 60_000, keepAliveTimeout: 5_000 }, (req, res) => {
  if (req.url === "/metrics") {
    if (req.method === "GET" && isScrapeAuthorized(req)) return void sendMetrics(res);
    const error = isScrapeAuthorized(req)
      ? new DepotError("bad_request", "metrics answer GET only")
      : new DepotError("unauthorized", "metrics need the internal API key");
    res.writeHead(error.status, { "content-type": "application/json" });
    return void res.end(JSON.stringify(error.toBody()));
  }
  // The web's health with every replica's heartbeat, behind the same key as the scrape.
  if (req.url === "/health") {
    if (req.method === "GET" && isScrapeAuthorized(req)) {
      return void webHealth(db()).then((health) => {
        res.writeHead(health.status === "ok" ? 200 : 503, { "content-type": "application/json" });
        res.end(JSON.stringify(health));
      });
    }
    const error = isScrapeAuthorized(req)
      ? new DepotError("bad_request", "health answers GET only")
      : new DepotError("unauthorized", "health needs the internal API key");
    res.writeHead(error.status, { "content-type": "application/json" });
    return void res.end(JSON.stringify(error.toBody()));
  }
  // The address comes from the socket, or from X-Forwarded-For only behind a proxy named in TRUSTED_PROXIES:
  // a client cannot choose what the audit trail records.
  const forwardedFor = req.headers["x-forwarded-for"];
  req.headers[CLIENT_IP_HEADER] = clientAddress(
    req.socket.remoteAddress,
    Array.isArray(forwardedFor) ? forwardedFor.join(",") : forwardedFor,
    env.trustedProxies,
  );
  req.headers[REQUEST_ID_HEADER] = randomUUID();
  // Methods no handler routes (Next would answer 500) and oversized bodies on routes that are not uploads are
  // refused here, before anything reads the body.
  let pathname = "/";
  try {
    pathname = new URL(req.url ?? "/", "http://depot.invalid").pathname;
  } catch {}
  const refusal = refuseBeforeNext(req.method ?? "", pathname, req.headers["content-length"]);
  if (refusal) {
    res.writeHead(refusal.status, {
      "content-type": "application/json",
      ...(refusal.allow ? { allow: refusal.allow } : {}),
    });
    res.end(JSON.stringify({ error: { code: refusal.code, message: refusal.message } }));
    return;
  }
  void handle(req, res);
});
instrumentServer(server, { routes: WEB_ROUTES, isUpload: isUploadRequest });
closeIdleConnections(server, env.idleTimeoutMs);
closeGracefullyAfterEarlyAnswers(server);
// This web server's heartbeat in service_replicas (role "web"), beside the storage replicas', every 10 s.
let stopHeartbeat = async () => {};
server.listen(env.port, env.host, () => {
  const { port } = server.address() as AddressInfo;
  stopHeartbeat = startHeartbeat(
    db(),
    {
      id: `${hostname()}:${port}`,
      role: "web",
      host: env.host,
      port,
      url: env.publicUrl,
      pid: process.pid,
      version: releaseVersion(),
      heartbeatIntervalMs: 10_000,
      startedAt: new Date(),
    },
    { onError: (error) => logger.warn({ error: (error as Error).name }, "heartbeat not written") },
  );
  logger.info({ url: env.publicUrl }, "web server listening");
});

const shutdown = () => {
  const heartbeatStopped = stopHeartbeat();
  server.close(() => void heartbeatStopped.finally(() => process.exit(0)));
  server.closeIdleConnections();
  setTimeout(() => process.exit(0), 5_000).unref();
};
process.once("SIGTERM", shutdown);
process.once("SIGINT", shutdown);
