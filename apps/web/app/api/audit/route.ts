import { DepotError } from "@depot/contract";
import { searchAudit } from "@depot/db";
import { parseAuditQuery } from "@/app/audit/audit-query";
import { db } from "@/lib/db";
import { adminRoute } from "../admin/admin-api";
import { auditRowJson } from "./audit-rows";

export const dynamic = "force-dynamic";

/**
 * The PHI trail, newest first, administrators only. Query: fileId, cohortId, userId (actor), action,
 * outcome, from, to (yyyy-mm-dd as whole UTC days, or ISO timestamps), requestId, page, pageSize (≤ 500).
 */
export function GET(req: Request) {
  return adminRoute(req, "audit", async () => {
    const query = parseAuditQuery(new URL(req.url).searchParams);
    if (!query.ok) throw new DepotError("bad_request", query.message);
    const { rows, total } = await searchAudit(db(), {
      ...query.filters,
      limit: query.pageSize,
      offset: (query.page - 1) * query.pageSize,
    });
    return Response.json({ page: query.page, pageSize: query.pageSize, total, rows: rows.map(auditRowJson) });
  });
}
