import { DepotError } from "@depot/contract";
import { route } from "@/lib/api";
import { auditWeb } from "@/lib/audit";
import { requireFileInRoute } from "@/lib/permissions";
import { requireSameOrigin } from "@/lib/request";
import { forwardedHeaders, storageClient, storageError } from "@/lib/storage-client";

export const dynamic = "force-dynamic";

type Context = { params: Promise<{ id: string }> };

export function GET(req: Request, context: Context) {
  return route(req, "file_details", async (ctx) => {
    const user = await ctx.requireUser();
    const file = await requireFileInRoute(ctx, user, (await context.params).id, "download");
    return Response.json({
      id: file.id,
      name: file.originalName,
      cohortId: file.cohortId,
      kind: file.kind,
      status: file.status,
      size: file.size,
      sha256: file.sha256,
      createdAt: file.createdAt,
      expiresAt: file.expiresAt,
    });
  });
}

/**
 * Removes the object from storage and marks the file deleted; both tiers audit it. Deleting is idempotent
 * under concurrency: storage claims the row with a conditional update, so of concurrent DELETEs exactly one
 * answers 200 and writes one `file_deleted` row per tier; the others, and any later one, answer 404.
 */
export function DELETE(req: Request, context: Context) {
  return route(req, "file_delete", async (ctx) => {
    requireSameOrigin(req);
    const user = await ctx.requireUser();
    const file = await requireFileInRoute(ctx, user, (await context.params).id, "delete");
    if (file.status === "uploading")
      throw new DepotError("conflict", "this file is still uploading; cancel the upload instead");
    const res = await storageClient().delete("internal/storage/delete", {
      headers: forwardedHeaders(ctx.info, user, file.id),
    });
    if (res.statusCode === 404) throw new DepotError("not_found", "no such file");
    if (res.statusCode !== 200)
      throw storageError({ statusCode: res.statusCode, headers: res.headers, body: res.body });
    await auditWeb(ctx.info, user, {
      action: "file_deleted",
      outcome: "success",
      cohortId: file.cohortId,
      fileId: file.id,
      disk: file.storageDisk,
      storageKey: file.storageKey,
      bytes: file.size,
      metadata: { name: file.originalName },
    });
    return Response.json({ id: file.id, deleted: true });
  });
}
