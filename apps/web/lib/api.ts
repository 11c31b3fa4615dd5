import { DepotError, type ErrorCode } from "@depot/contract";
import type { User } from "@depot/db";
import { describeError } from "@depot/telemetry";
import { auditWeb } from "./audit";
import { logger } from "./log";
import { type RequestInfo, requestInfo } from "./request";
import { requireUser } from "./session";

export function jsonError(code: ErrorCode, message: string, headers: HeadersInit = {}): Response {
  const error = new DepotError(code, message);
  return Response.json(error.toBody(), { status: error.status, headers });
}

/** Runs a route handler; any thrown DepotError becomes the one error shape, anything else a bare 500. */
export async function api(handler: () => Promise<Response>): Promise<Response> {
  try {
    return await handler();
  } catch (error) {
    if (error instanceof DepotError) return Response.json(error.toBody(), { status: error.status });
    logger.error({ error: describeError(error) }, "route failed");
    if (process.env.DEPOT_DEBUG) console.error(error);
    return jsonError("internal", "the web server failed to complete the request");
  }
}

export interface RouteContext {
  info: RequestInfo;
  /** The signed-in person once `requireUser` ran: named in a denied row. */
  user: User | null;
  /** What the request was about (fileId, cohortId, …): written into a denied row. */
  target: { fileId?: string; cohortId?: string } & Record<string, unknown>;
  requireUser(): Promise<User>;
}

export const isDenial = (error: unknown): error is DepotError =>
  error instanceof DepotError && (error.code === "forbidden" || error.code === "unauthorized");

/**
 * The one wrapper every API route handler runs in (the error shape of `api`, plus): any refusal of who may do
 * what (401 or 403, whoever throws it) leaves exactly one `access_denied` row naming the route, the method, the
 * person when known and the target the handler recorded in `ctx.target`.
 */
export function route(
  req: Request,
  name: string,
  handler: (ctx: RouteContext) => Promise<Response>,
): Promise<Response> {
  const ctx: RouteContext = {
    info: requestInfo(req),
    user: null,
    target: {},
    async requireUser() {
      ctx.user = await requireUser();
      return ctx.user;
    },
  };
  return api(async () => {
    try {
      return await handler(ctx);
    } catch (error) {
      if (isDenial(error)) {
        const { fileId, cohortId, ...rest } = ctx.target;
        await auditWeb(ctx.info, ctx.user, {
          action: "access_denied",
          outcome: "denied",
          error: error.code,
          fileId,
          cohortId,
          metadata: { route: name, method: req.method, ...rest },
        }).catch(() => {});
      }
      throw error;
    }
  });
}
