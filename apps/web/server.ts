import { createServer } from "node:http";
import { fileURLToPath } from "node:url";
import { closeGracefullyAfterEarlyAnswers, closeIdleConnections } from "@depot/contract";
import next from "next";
import { clientAddress } from "./lib/client-address";
import { EnvError, getEnv } from "./lib/env";
import { refuseBeforeNext } from "./lib/methods";
import { CLIENT_IP_HEADER } from "./lib/request";

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

const server = createServer({ requestTimeout: 0, headersTimeout: 60_000, keepAliveTimeout: 5_000 }, (req, res) => {
  // The address comes from the socket, or from X-Forwarded-For only behind a proxy named in TRUSTED_PROXIES:
  // a client cannot choose what the audit trail records.
  const forwardedFor = req.headers["x-forwarded-for"];
  req.headers[CLIENT_IP_HEADER] = clientAddress(
    req.socket.remoteAddress,
    Array.isArray(forwardedFor) ? forwardedFor.join(",") : forwardedFor,
    env.trustedProxies,
  );
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
closeIdleConnections(server, env.idleTimeoutMs);
closeGracefullyAfterEarlyAnswers(server);
server.listen(env.port, env.host, () => {
  console.log(JSON.stringify({ level: "info", service: "web", message: "web server listening", url: env.publicUrl }));
});

const shutdown = () => {
  server.close(() => process.exit(0));
  server.closeIdleConnections();
  setTimeout(() => process.exit(0), 5_000).unref();
};
process.once("SIGTERM", shutdown);
process.once("SIGINT", shutdown);
