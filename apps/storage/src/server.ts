import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { DepotError } from "@depot/contract";
import { createApiKeyCheck } from "./http/api-key";
import { type RequestContext, requestContext, type StorageContext } from "./http/context";
import { sendError } from "./http/respond";
import { log } from "./log";
import { health } from "./routes/health";

type Handler = (ctx: StorageContext, request: RequestContext) => Promise<void>;

const routes: Record<string, Partial<Record<string, Handler>>> = {
  "/internal/storage/health": { GET: health },
};

/** The internal storage API. Every route needs the X-API-Key; nothing here is for the public network. */
export function createStorageServer(ctx: StorageContext): Server {
  const isAuthorized = createApiKeyCheck(ctx.env.apiKey);

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const request = requestContext(req, res);
    res.setHeader("x-request-id", request.requestId);
    try {
      const route = routes[request.url.pathname];
      if (!isAuthorized(req)) {
        log("warn", "request refused: missing or wrong API key", {
          requestId: request.requestId,
          method: req.method,
          path: request.url.pathname,
          remote: req.socket.remoteAddress,
        });
        throw new DepotError("unauthorized", "missing or invalid X-API-Key");
      }
      if (!route) throw new DepotError("not_found", "no such route");
      const handler = route[req.method ?? "GET"];
      if (!handler) throw new DepotError("bad_request", `method ${req.method} is not allowed here`);
      await handler(ctx, request);
    } catch (error) {
      if (!(error instanceof DepotError)) {
        log("error", "request failed", {
          requestId: request.requestId,
          path: request.url.pathname,
          error: String(error),
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
  server.setTimeout(ctx.env.idleTimeoutMs, (socket) => socket.destroy());
  return server;
}
