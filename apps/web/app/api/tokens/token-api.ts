import type { AccessToken, User } from "@depot/db";
import { route } from "@/lib/api";
import { type RequestInfo, requireSameOrigin } from "@/lib/request";
import { refuseToken } from "@/lib/tokens";

/**
 * Token management: a signed-in session only (a token never makes or revokes tokens, so a scoped token
 * cannot mint a wider one), same-origin for changes, and every refusal leaves an access_denied row.
 */
export function tokenRoute(
  req: Request,
  name: string,
  handler: (ctx: { user: User; info: RequestInfo }) => Promise<Response>,
): Promise<Response> {
  return route(req, name, async (ctx) => {
    if (req.method !== "GET") requireSameOrigin(req);
    const user = await ctx.requireUser();
    refuseToken(user, "managing tokens");
    return handler({ user, info: ctx.info });
  });
}

/** A token as the API and the page show it: never the secret, nor its hash. */
export function publicToken(t: AccessToken, extra: { ownerEmail?: string; cohortName?: string | null } = {}) {
  const now = Date.now();
  return {
    id: t.id,
    name: t.name,
    prefix: t.tokenPrefix,
    ownerId: t.userId,
    ...(extra.ownerEmail !== undefined ? { ownerEmail: extra.ownerEmail } : {}),
    cohortId: t.cohortId,
    ...(extra.cohortName !== undefined ? { cohortName: extra.cohortName } : {}),
    permission: t.permission,
    createdAt: t.createdAt,
    expiresAt: t.expiresAt,
    lastUsedAt: t.lastUsedAt,
    revokedAt: t.revokedAt,
    state: t.revokedAt ? "revoked" : t.expiresAt.getTime() <= now ? "expired" : "active",
  };
}
