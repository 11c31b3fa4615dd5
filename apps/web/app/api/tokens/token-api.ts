import type { AccessToken, User } from "@depot/db";
import { api } from "@/lib/api";
import { auditIfDenied } from "@/lib/audit";
import { type RequestInfo, requestInfo, requireSameOrigin } from "@/lib/request";
import { requireUser } from "@/lib/session";
import { refuseToken } from "@/lib/tokens";

/**
 * Token management: a signed-in session only (a token never makes or revokes tokens, so a scoped token
 * cannot mint a wider one), same-origin for changes, and every refusal leaves an access_denied row.
 */
export function tokenRoute(
  req: Request,
  route: string,
  handler: (ctx: { user: User; info: RequestInfo }) => Promise<Response>,
): Promise<Response> {
  const info = requestInfo(req);
  let user: User | null = null;
  return api(async () => {
    try {
      if (req.method !== "GET") requireSameOrigin(req);
      user = await requireUser();
      refuseToken(user, "managing tokens");
      return await handler({ user, info });
    } catch (error) {
      await auditIfDenied(info, user, error, { route, method: req.method });
      throw error;
    }
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
