import { DepotError } from "@depot/contract";
import { findCohort, findUserById, removeMembership, roleInCohort, setMembership } from "@depot/db";
import { z } from "zod";
import { db } from "@/lib/db";
import { uuidField as uuid } from "@/lib/ids";
import { adminRoute, auditWebIn, parseBody } from "../admin-api";

export const dynamic = "force-dynamic";

const setBody = z.object({ userId: uuid, cohortId: uuid, role: z.enum(["manager", "viewer"]) });
const removeBody = z.object({ userId: uuid, cohortId: uuid });

/** Gives a user a role in a cohort (`{ userId, cohortId, role: manager | viewer }`), adding or changing it. */
export function PUT(req: Request) {
  return adminRoute(req, "admin_memberships", async (ctx) => {
    const input = await parseBody(req, setBody);
    const previousRole = await db().transaction(async (tx) => {
      if (!(await findUserById(tx, input.userId))) throw new DepotError("not_found", "no such user");
      if (!(await findCohort(tx, input.cohortId))) throw new DepotError("not_found", "no such cohort");
      const previous = await roleInCohort(tx, input.userId, input.cohortId);
      await setMembership(tx, input);
      await auditWebIn(tx, ctx, {
        action: "membership_set",
        outcome: "success",
        cohortId: input.cohortId,
        metadata: { userId: input.userId, role: input.role, previousRole: previous },
      });
      return previous;
    });
    return Response.json({ membership: input, previousRole });
  });
}

/** Removes a user's membership of a cohort (`{ userId, cohortId }`); 404 when there is none. */
export function DELETE(req: Request) {
  return adminRoute(req, "admin_memberships", async (ctx) => {
    const input = await parseBody(req, removeBody);
    await db().transaction(async (tx) => {
      const role = await roleInCohort(tx, input.userId, input.cohortId);
      if (!role) throw new DepotError("not_found", "no such membership");
      await removeMembership(tx, input);
      await auditWebIn(tx, ctx, {
        action: "membership_removed",
        outcome: "success",
        cohortId: input.cohortId,
        metadata: { userId: input.userId, role },
      });
    });
    return Response.json({ removed: true, userId: input.userId, cohortId: input.cohortId });
  });
}
