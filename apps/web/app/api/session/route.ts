import { endSessionsOf } from "@depot/db";
import { z } from "zod";
import { api, jsonError } from "@/lib/api";
import { clearedSessionCookie, sessionCookie } from "@/lib/auth";
import { readJson } from "@/lib/body";
import { checkCredentials } from "@/lib/credentials";
import { db } from "@/lib/db";
import { requestInfo, requireSameOrigin } from "@/lib/request";
import { sessionFromCookie } from "@/lib/session";

export const dynamic = "force-dynamic";

const body = z.object({ email: z.string().min(1).max(320), password: z.string().min(1).max(1024) });

const publicUser = (u: { id: string; email: string; name: string }) => ({ id: u.id, email: u.email, name: u.name });

/**
 * Sign in with `{ email, password }`, the one way in (the login page and scripts: `curl -c jar -H 'content-type:
 * application/json' -d '{"email":…,"password":…}' …/api/session`). 401 wrong, 403 deactivated, 429 too many tries.
 * The body is at most 64 KiB; the client's address is the socket's, or X-Forwarded-For only behind TRUSTED_PROXIES.
 */
export function POST(req: Request) {
  return api(async () => {
    requireSameOrigin(req);
    const info = requestInfo(req);
    const input = await readJson(req, body);
    const result = await checkCredentials(db(), {
      ...input,
      ip: info.ip,
      userAgent: info.userAgent,
      requestId: info.requestId,
    });
    if (!result.ok) {
      const code =
        result.reason === "rate_limited" ? "rate_limited" : result.reason === "inactive" ? "forbidden" : "unauthorized";
      const retry = result.retryAfterSeconds ? { "retry-after": String(result.retryAfterSeconds) } : undefined;
      return jsonError(code, result.message, retry);
    }
    return Response.json(
      { user: publicUser(result.user) },
      { headers: { "set-cookie": await sessionCookie(result.user) } },
    );
  });
}

/**
 * The current session, renewed (activity keeps a session alive for SESSION_IDLE_MINUTES more, never past
 * SESSION_MAX_HOURS after sign-in). A session that no longer stands gets a 401 and its cookie removed, never renewed.
 */
export function GET() {
  return api(async () => {
    const session = await sessionFromCookie();
    if (!session) {
      return jsonError("unauthorized", "sign in first: no valid session", { "set-cookie": clearedSessionCookie() });
    }
    return Response.json(
      { user: publicUser(session.user), signedInAt: new Date(session.claims.authTime * 1000).toISOString() },
      {
        headers: {
          "set-cookie": await sessionCookie(session.user, session.claims.authTime),
          "cache-control": "no-store",
        },
      },
    );
  });
}

/** Sign out: ends the session on the server (every token issued to this person so far) and removes the cookie. */
export function DELETE(req: Request) {
  return api(async () => {
    requireSameOrigin(req);
    const session = await sessionFromCookie();
    if (session) await endSessionsOf(db(), session.user.id);
    return new Response(null, { status: 204, headers: { "set-cookie": clearedSessionCookie() } });
  });
}
