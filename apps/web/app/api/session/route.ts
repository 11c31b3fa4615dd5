import { encode } from "next-auth/jwt";
import { z } from "zod";
import { api, jsonError } from "@/lib/api";
import { checkCredentials } from "@/lib/credentials";
import { db } from "@/lib/db";
import { getEnv } from "@/lib/env";
import { requestInfo, requireSameOrigin } from "@/lib/request";

export const dynamic = "force-dynamic";

const body = z.object({ email: z.string().min(1).max(320), password: z.string().min(1).max(1024) });

/** next-auth's own cookie, so pages and API routes read one session whichever way someone signed in. */
export function sessionCookieName() {
  return getEnv().publicUrl.startsWith("https://") ? "__Secure-next-auth.session-token" : "next-auth.session-token";
}

/**
 * Sign in with `{ email, password }` (for the login page and for scripts: `curl -c jar -H 'content-type:
 * application/json' -d '{"email":…,"password":…}' …/api/session`). 401 wrong, 403 deactivated, 429 too many tries.
 */
export function POST(req: Request) {
  return api(async () => {
    requireSameOrigin(req);
    const info = requestInfo(req);
    const parsed = body.safeParse(await req.json().catch(() => null));
    if (!parsed.success) return jsonError("bad_request", "send JSON with email and password");
    const result = await checkCredentials(db(), {
      ...parsed.data,
      ip: info.ip,
      userAgent: info.userAgent,
      requestId: info.requestId,
    });
    if (!result.ok) {
      const code =
        result.reason === "rate_limited" ? "rate_limited" : result.reason === "inactive" ? "forbidden" : "unauthorized";
      return jsonError(code, result.message, result.reason === "rate_limited" ? { "retry-after": "60" } : {});
    }
    const env = getEnv();
    const maxAge = env.sessionIdleMinutes * 60;
    const token = await encode({
      token: { sub: result.user.id, email: result.user.email, name: result.user.name },
      secret: env.authSecret,
      maxAge,
    });
    const secure = env.publicUrl.startsWith("https://") ? "; Secure" : "";
    return Response.json(
      { user: { id: result.user.id, email: result.user.email, name: result.user.name } },
      {
        headers: {
          "set-cookie": `${sessionCookieName()}=${token}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${maxAge}${secure}`,
        },
      },
    );
  });
}

export function DELETE(req: Request) {
  return api(async () => {
    requireSameOrigin(req);
    return new Response(null, {
      status: 204,
      headers: { "set-cookie": `${sessionCookieName()}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0` },
    });
  });
}
