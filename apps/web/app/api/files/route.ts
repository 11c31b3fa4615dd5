import { DepotError } from "@depot/contract";
import { listFiles } from "@depot/db";
import { route } from "@/lib/api";
import { db } from "@/lib/db";
import { parseFileQuery } from "@/lib/file-query";
import { isAdministrator, visibleCohorts } from "@/lib/permissions";
import { tokenOf } from "@/lib/tokens";

export const dynamic = "force-dynamic";

/** Files the person may see, with the same filters as the /files page. */
export function GET(req: Request) {
  return route(req, "files", async (ctx) => {
    const user = await ctx.requireUser();
    const query = parseFileQuery(new URL(req.url).searchParams);
    if (!query.ok) throw new DepotError("bad_request", query.message);
    const cohortIds = isAdministrator(user) && !tokenOf(user) ? null : (await visibleCohorts(user)).map((c) => c.id);
    const { rows, total, totalExact } = await listFiles(db(), { ...query.filters, cohortIds });
    return Response.json({
      page: query.page,
      pageSize: query.pageSize,
      // Counted up to 10,000 files or just past this page; totalExact false when more match.
      total,
      totalExact,
      files: rows.map(({ file, cohortName, uploaderEmail }) => ({
        id: file.id,
        name: file.originalName,
        cohortId: file.cohortId,
        cohortName,
        kind: file.kind,
        status: file.status,
        size: file.size,
        sha256: file.sha256,
        uploader: uploaderEmail,
        createdAt: file.createdAt,
        completedAt: file.completedAt,
        expiresAt: file.expiresAt,
      })),
    });
  });
}
