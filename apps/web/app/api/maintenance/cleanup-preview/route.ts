import { DepotError } from "@depot/contract";
import { api } from "@/lib/api";
import { auditWeb } from "@/lib/audit";
import { isAdministrator } from "@/lib/permissions";
import { requestInfo, requireSameOrigin } from "@/lib/request";
import { requireUser } from "@/lib/session";
import { forwardedHeaders, storageClient, storageError } from "@/lib/storage-client";
import { refuseToken } from "@/lib/tokens";

export const dynamic = "force-dynamic";

/** Administrators: what a cleanup would remove now (a dry run on the storage service; nothing is removed). */
export function POST(req: Request) {
  const info = requestInfo(req);
  return api(async () => {
    requireSameOrigin(req);
    const user = await requireUser();
    if (!isAdministrator(user)) throw new DepotError("forbidden", "administrators only");
    refuseToken(user, "administration");
    const res = await storageClient().post("internal/storage/cleanup", {
      searchParams: { dry_run: "1" },
      headers: forwardedHeaders(info, user),
      timeout: { request: 120_000 },
    });
    if (res.statusCode !== 200 && res.statusCode !== 409) {
      throw storageError({ statusCode: res.statusCode, headers: res.headers, body: res.body });
    }
    await auditWeb(info, user, { action: "cleanup_previewed", outcome: "success" });
    return new Response(res.body, { status: res.statusCode, headers: { "content-type": "application/json" } });
  });
}
