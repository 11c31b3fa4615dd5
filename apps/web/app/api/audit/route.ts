import { DepotError } from "@depot/contract";
import { searchAudit } from "@depot/db";
import { parseAuditQuery } from "@/app/audit/audit-query";
import { db } from "@/lib/db";
import { adminRoute } from "../admin/admin-api";
import { auditRowJson } from "./audit-rows";

export const dynamic = "force-dynamic";

/**
 * The PHI trail, newest first, administrators only. Query: fileId, cohortId, userId (actor), action,
 * outcome, from, to (yyyy-mm-dd as whole UTC days, or ISO timestamps), requestId, pageSize (≤ 500), and either
 * before / after (row ids, from olderBefore / newerAfter of the answer) or page. total counts up to 10,000 matching
 * rows (totalExact false beyond).
 */
export function GET(req: Request) {
  return adminRoute(req, "audit", async () => {
    const query = parseAuditQuery(new URL(req.url).searchParams);
    if (!query.ok) throw new DepotError("bad_request", query.message);
    const keyset = query.cursor.before !== undefined || query.cursor.after !== undefined;
    const found = await searchAudit(db(), {
      ...query.filters,
      ...query.cursor,
      limit: query.pageSize,
      offset: keyset ? 0 : (query.page - 1) * query.pageSize,
    });
    const { rows, total, totalExact, hasOlder, hasNewer } = found;
    return Response.json({
      page: keyset ? null : query.page,
      pageSize: query.pageSize,
      total,
      totalExact,
      // The next page of older rows: ?before=<olderBefore> (keyset: as fast deep in the trail as at its top).
      olderBefore: hasOlder ? (rows.at(-1)?.id.toString() ?? null) : null,
      newerAfter: hasNewer ? (rows[0]?.id.toString() ?? null) : null,
      rows: rows.map(auditRowJson),
    });
  });
}
