import { DepotError } from "@depot/contract";
import { createCohort, DuplicateError, listCohortsWithCounts } from "@depot/db";
import { z } from "zod";
import { db } from "@/lib/db";
import { adminRoute, auditWebIn, parseBody } from "../admin-api";

export const dynamic = "force-dynamic";

const createBody = z.object({
  name: z.string().trim().min(1).max(200),
  description: z.string().trim().max(2000).default(""),
});

/** Every cohort with its member count and the number and total bytes of its stored files. */
export function GET(req: Request) {
  return adminRoute(req, "admin_cohorts", async () => Response.json({ cohorts: await listCohortsWithCounts(db()) }));
}

/** Creates a cohort from `{ name, description? }`; 409 when the name is taken (in any letter case). */
export function POST(req: Request) {
  return adminRoute(req, "admin_cohorts", async (ctx) => {
    const input = await parseBody(req, createBody);
    try {
      const cohort = await db().transaction(async (tx) => {
        const created = await createCohort(tx, input);
        await auditWebIn(tx, ctx, {
          action: "cohort_created",
          outcome: "success",
          cohortId: created.id,
          metadata: { name: created.name },
        });
        return created;
      });
      return Response.json({ cohort: { ...cohort, members: 0, files: 0, bytes: 0 } }, { status: 201 });
    } catch (error) {
      if (error instanceof DuplicateError) throw new DepotError("conflict", error.message);
      throw error;
    }
  });
}
