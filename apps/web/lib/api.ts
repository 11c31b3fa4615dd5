import { DepotError, type ErrorCode } from "@depot/contract";

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
    console.error(JSON.stringify({ level: "error", service: "web", message: "route failed", error: describe(error) }));
    if (process.env.DEPOT_DEBUG) console.error(error);
    return jsonError("internal", "the web server failed to complete the request");
  }
}

/** An error's class and code, never its message, which may carry paths or request details. */
export function describe(error: unknown): string {
  const e = error as { name?: string; code?: string } | null;
  return `${e?.name ?? typeof error}${e?.code ? ` (${e.code})` : ""}`;
}
