import { DepotError } from "@depot/contract";
import { AUDIT_CSV_HEADER, auditCsvPages } from "@depot/db";
import { filterParams, parseAuditQuery } from "@/app/audit/audit-query";
import { auditWeb } from "@/lib/audit";
import { csvStream } from "@/lib/csv";
import { db } from "@/lib/db";
import { requireSameOrigin } from "@/lib/request";
import { adminRoute } from "../../admin/admin-api";

export const dynamic = "force-dynamic";

/**
 * The filtered trail as CSV, oldest first, streamed a page at a time as the client reads (never the whole table
 * in memory).
 * Same filters as GET /api/audit (page and pageSize are ignored). The export itself is audited first.
 */
export function GET(req: Request) {
  return adminRoute(req, "audit_export", async ({ user, info }) => {
    // It writes an audit row, so another site must not be able to set it off through a link.
    requireSameOrigin(req);
    const query = parseAuditQuery(new URL(req.url).searchParams);
    if (!query.ok) throw new DepotError("bad_request", query.message);
    await auditWeb(info, user, {
      action: "audit_exported",
      outcome: "success",
      metadata: filterParams(query.values),
    });
    const date = new Date().toISOString().slice(0, 10);
    const body = csvStream(AUDIT_CSV_HEADER, auditCsvPages(db(), query.filters));
    return new Response(body, {
      headers: {
        "content-type": "text/csv; charset=utf-8",
        "content-disposition": `attachment; filename="depot-audit-${date}.csv"`,
        // no-transform: the web server does not gzip this bulk download (Next would, on the tier that serves
        // every person): compressing 1 M rows took more CPU than reading and writing them, half the export's speed.
        // A TLS proxy in front may compress it.
        "cache-control": "no-store, no-transform",
        "x-content-type-options": "nosniff",
        "x-request-id": info.requestId,
      },
    });
  });
}
