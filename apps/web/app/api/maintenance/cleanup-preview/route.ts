import { DepotError } from "@depot/contract";
import { route } from "@/lib/api";
import { auditWeb } from "@/lib/audit";
import { isAdministrator } from "@/lib/permissions";
import { requireSameOrigin } from "@/lib/request";
import { callStorage, forwardedHeaders, storageError } from "@/lib/storage-client";
import { refuseToken } from "@/lib/tokens";

export const dynamic = "force-dynamic";

/** Administrators: what a cleanup would remove now (a dry run on the storage service; nothing is removed). */
export function POST(req: Request) {
  return route(req, "cleanup_preview", async (ctx) => {
    const { info } = ctx;
    requireSameOrigin(req);
    const user = await ctx.requireUser();
    if (!isAdministrator(user)) throw new DepotError("forbidden", "administrators only");
    refuseToken(user, "administration");
    const res = await callStorage("POST", "internal/storage/cleanup", {
      searchParams: { dry_run: "1" },
      headers: forwardedHeaders(info, user),
      timeoutMs: 120_000,
    });
    if (res.statusCode !== 200 && res.statusCode !== 409) throw storageError(res);
    await auditWeb(info, user, { action: "cleanup_previewed", outcome: "success" });
    return new Response(res.body, { status: res.statusCode, headers: { "content-type": "application/json" } });
  });
}
