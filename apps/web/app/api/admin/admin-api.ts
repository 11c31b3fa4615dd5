import { DepotError } from "@depot/contract";
import type { AuditEntry, Queryable, User } from "@depot/db";
import { MIN_PASSWORD_LENGTH } from "@/app/admin/admin-fetch";
import { route } from "@/lib/api";
import { auditWeb } from "@/lib/audit";
import { readJson } from "@/lib/body";
import { isAdministrator } from "@/lib/permissions";
import { type RequestInfo, requireSameOrigin } from "@/lib/request";
import { refuseToken } from "@/lib/tokens";

/** The shortest password an administrator may set (shared with the admin page). */
export { MIN_PASSWORD_LENGTH };

export interface AdminContext {
  user: User;
  info: RequestInfo;
}

/**
 * Runs an administrators-only route handler (administrators and superusers): same-origin check first for
 * state-changing methods, then the session (401) and the role (403). Every refusal (401/403, including a
 * handler's own, such as an administrator trying to deactivate themself) leaves an `access_denied` row (route()).
 */
export function adminRoute(
  req: Request,
  name: string,
  handler: (ctx: AdminContext) => Promise<Response>,
): Promise<Response> {
  return route(req, name, async (ctx) => {
    if (req.method !== "GET" && req.method !== "HEAD") requireSameOrigin(req);
    // Known before the role check, so a refused member is named in the denied row.
    const user = await ctx.requireUser();
    if (!isAdministrator(user)) throw new DepotError("forbidden", "administrators only");
    refuseToken(user, "administration");
    return handler({ user, info: ctx.info });
  });
}

/**
 * A web-tier audit row written inside the caller's transaction: the same row auditWeb writes (server role
 * web, this request's id, the administrator as actor), but it commits or rolls back with the change it
 * describes, so no administrative change is ever left without its row.
 */
export function auditWebIn(
  tx: Queryable,
  { user, info }: AdminContext,
  entry: Omit<AuditEntry, "serverRole" | "requestId" | "actor">,
) {
  return auditWeb(info, user, entry, tx);
}

/** The JSON body (at most 64 KiB), validated; a 400 names the first problem (never echoing a value). */
export const parseBody = readJson;

/** A user without the password hash, as the admin API returns it. */
export function publicUser(u: User) {
  return {
    id: u.id,
    email: u.email,
    name: u.name,
    role: u.role,
    isSuperuser: u.isSuperuser,
    isActive: u.isActive,
    createdAt: u.createdAt,
    lastLoginAt: u.lastLoginAt,
  };
}
