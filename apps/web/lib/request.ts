import { randomUUID } from "node:crypto";
import { DepotError } from "@depot/contract";
import type { AuditActor, User } from "@depot/db";
import { getEnv } from "./env";

/** Set by server.ts from the socket, after removing any value the client sent. */
export const CLIENT_IP_HEADER = "x-depot-client-ip";
/** Set by server.ts for each request (any value the client sent is replaced): one id for all its audit rows. */
export const REQUEST_ID_HEADER = "x-depot-request-id";

export interface RequestInfo {
  requestId: string;
  ip: string;
  userAgent: string | null;
}

export function requestInfo(req: Request): RequestInfo {
  return {
    requestId: req.headers.get(REQUEST_ID_HEADER) ?? randomUUID(),
    ip: req.headers.get(CLIENT_IP_HEADER) ?? "unknown",
    userAgent: req.headers.get("user-agent")?.slice(0, 500) ?? null,
  };
}

export const actorOf = (user: User | null, info: RequestInfo): AuditActor => ({
  userId: user?.id ?? null,
  ip: info.ip,
  userAgent: info.userAgent,
});

/**
 * State-changing requests must come from our own pages (or from a script, which sends no Origin):
 * a browser on another site always sends its Origin or Sec-Fetch-Site, and is refused.
 */
export function requireSameOrigin(req: Request): void {
  const site = req.headers.get("sec-fetch-site");
  if (site && site !== "same-origin" && site !== "none") {
    throw new DepotError("forbidden", "cross-site requests are not allowed");
  }
  const origin = req.headers.get("origin");
  if (origin && origin !== new URL(getEnv().publicUrl).origin && origin !== hostOrigin(req)) {
    throw new DepotError("forbidden", "cross-site requests are not allowed");
  }
}

function hostOrigin(req: Request): string | null {
  const host = req.headers.get("host");
  return host ? `${new URL(getEnv().publicUrl).protocol}//${host}` : null;
}
