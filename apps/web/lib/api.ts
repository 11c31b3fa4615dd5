import { DepotError, type ErrorCode } from "@depot/contract";
import { describeError } from "@depot/telemetry";
import { logger } from "./log";

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
