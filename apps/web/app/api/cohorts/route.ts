import { api } from "@/lib/api";
import { visibleCohorts } from "@/lib/permissions";
import { requireUser } from "@/lib/session";

export const dynamic = "force-dynamic";

/** The cohorts the person sees, with their role and what they may do in each: where a script finds cohort ids. */
export function GET() {
  return api(async () => {
    const user = await requireUser();
    return Response.json({ cohorts: await visibleCohorts(user) });
  });
}
