import { DepotError } from "@depot/contract";
import type { AuditEntry, Queryable, User } from "@depot/db";
import type { z } from "zod";
import { MIN_PASSWORD_LENGTH } from "@/app/admin/admin-fetch";
import { api } from "@/lib/api";
import { auditIfDenied, auditWeb } from "@/lib/audit";
import { isAdministrator } from "@/lib/permissions";
import { type RequestInfo, requestInfo, requireSameOrigin } from "@/lib/request";
import { requireUser } from "@/lib/session";
import { refuseToken } from "@/lib/tokens";

/** The shortest password an administrator may set (shared with the admin page). */
export { MIN_PASSWORD_LENGTH };

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface AdminContext {
  user: User;
  info: RequestInfo;
}

/**
 * Runs an administrators-only route handler (administrators and superusers): same-origin check first for
 * state-changing methods, then the session (401) and the role (403). Every refusal (401/403, including a
 * handler's own, such as an administrator trying to deactivate themself) leaves an `access_denied` row.
 */
export function adminRoute(
  req: Request,
  route: string,
  handler: (ctx: AdminContext) => Promise<Response>,
): Promise<Response> {
  const info = requestInfo(req);
  let user: User | null = null;
  return api(async () => {
    try {
      if (req.method !== "GET" && req.method !== "HEAD") requireSameOrigin(req);
      // Known before the role check, so a refused member is named in the denied row.
      user = await requireUser();
      if (!isAdministrator(user)) throw new DepotError("forbidden", "administrators only");
      refuseToken(user, "administration");
      return await handler({ user, info });
    } catch (error) {
      await auditIfDenied(info, user, error, { route, method: req.method });
      throw error;
    }
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

/** The JSON body, validated; a 400 names the first problem (never echoing a value, so no password leaks). */
export async function parseBody<T extends z.ZodType>(req: Request, schema: T): Promise<z.output<T>> {
  const raw = await req.json().catch(() => undefined);
  if (raw === undefined) throw new DepotError("bad_request", "send a JSON body");
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? `${issue.path.join(".")}: ` : "";
    throw new DepotError("bad_request", `invalid request: ${where}${issue?.message ?? "invalid body"}`);
  }
  return parsed.data;
}

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
