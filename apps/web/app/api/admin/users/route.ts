import { DepotError } from "@depot/contract";
import { createUserAccount, DuplicateError, listUsers } from "@depot/db";
import { z } from "zod";
import { db } from "@/lib/db";
import { adminRoute, auditWebIn, MIN_PASSWORD_LENGTH, parseBody, publicUser } from "../admin-api";

export const dynamic = "force-dynamic";

const createBody = z.object({
  email: z.string().trim().max(320).pipe(z.email()),
  name: z.string().trim().min(1).max(200),
  password: z.string().min(MIN_PASSWORD_LENGTH).max(1024),
  role: z.enum(["administrator", "member"]),
});

/** Every user with their memberships. */
export function GET(req: Request) {
  return adminRoute(req, "admin_users", async () => Response.json({ users: await listUsers(db()) }));
}

/** Creates a user from `{ email, name, password (12+ characters), role }`; 409 when the email is taken. */
export function POST(req: Request) {
  return adminRoute(req, "admin_users", async (ctx) => {
    const input = await parseBody(req, createBody);
    try {
      const user = await db().transaction(async (tx) => {
        const created = await createUserAccount(tx, input);
        await auditWebIn(tx, ctx, {
          action: "user_created",
          outcome: "success",
          metadata: { userId: created.id, email: created.email, role: created.role },
        });
        return created;
      });
      return Response.json({ user: { ...publicUser(user), memberships: [] } }, { status: 201 });
    } catch (error) {
      if (error instanceof DuplicateError) throw new DepotError("conflict", error.message);
      throw error;
    }
  });
}
