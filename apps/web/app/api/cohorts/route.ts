import { route } from "@/lib/api";
import { visibleCohorts } from "@/lib/permissions";

export const dynamic = "force-dynamic";

/** The cohorts the person sees, with their role and what they may do in each: where a script finds cohort ids. */
export function GET(req: Request) {
  return route(req, "cohorts", async (ctx) => {
    const user = await ctx.requireUser();
    return Response.json({ cohorts: await visibleCohorts(user) });
  });
}
