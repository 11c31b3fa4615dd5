import { DepotError } from "@depot/contract";
import { findUserById, resetPassword, setUserActive, updateUserRole } from "@depot/db";
import { z } from "zod";
import { db } from "@/lib/db";
import { requireId } from "@/lib/ids";
import { adminRoute, auditWebIn, MIN_PASSWORD_LENGTH, parseBody, publicUser } from "../../admin-api";

export const dynamic = "force-dynamic";

type Context = { params: Promise<{ id: string }> };

const patchBody = z
  .object({
    active: z.boolean().optional(),
    role: z.enum(["administrator", "member"]).optional(),
    password: z.string().min(MIN_PASSWORD_LENGTH).max(1024).optional(),
  })
  .refine((b) => b.active !== undefined || b.role !== undefined || b.password !== undefined, {
    error: "send at least one of active, role, password",
  });

/**
 * Changes one user: `{ active?, role?, password? }`. Administrators cannot deactivate themselves or take
 * their own administrator role away (either would lock them out). Each change is its own audit row; a
 * field that already has the requested value changes nothing and writes no row.
 */
export function PATCH(req: Request, context: Context) {
  return adminRoute(req, "admin_user_update", async (ctx) => {
    // Canonical (lower case) before any comparison: an upper-case spelling of one's own id is still one's own.
    const id = requireId((await context.params).id, "user");
    const input = await parseBody(req, patchBody);
    if (id === ctx.user.id && input.active === false) {
      throw new DepotError("forbidden", "you cannot deactivate your own account");
    }
    if (id === ctx.user.id && input.role === "member" && ctx.user.role === "administrator") {
      throw new DepotError("forbidden", "you cannot remove your own administrator role");
    }
    const updated = await db().transaction(async (tx) => {
      const before = await findUserById(tx, id);
      if (!before) throw new DepotError("not_found", "no such user");
      const subject = { userId: id, email: before.email };
      if (input.active !== undefined && input.active !== before.isActive) {
        await setUserActive(tx, id, input.active);
        await auditWebIn(tx, ctx, {
          action: input.active ? "user_activated" : "user_deactivated",
          outcome: "success",
          metadata: subject,
        });
      }
      if (input.role !== undefined && input.role !== before.role) {
        await updateUserRole(tx, id, input.role);
        await auditWebIn(tx, ctx, {
          action: "role_changed",
          outcome: "success",
          metadata: { ...subject, from: before.role, to: input.role },
        });
      }
      if (input.password !== undefined) {
        await resetPassword(tx, id, input.password);
        // Only that it happened: never the password, nor its hash.
        await auditWebIn(tx, ctx, { action: "password_reset", outcome: "success", metadata: subject });
      }
      return findUserById(tx, id);
    });
    if (!updated) throw new DepotError("not_found", "no such user");
    return Response.json({ user: publicUser(updated) });
  });
}
