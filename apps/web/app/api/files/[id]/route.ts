import { DepotError } from "@depot/contract";
import { duplicatesOf, findCohort, searchAudit } from "@depot/db";
import { route } from "@/lib/api";
import { auditWeb } from "@/lib/audit";
import { db } from "@/lib/db";
import { requireFileInRoute } from "@/lib/permissions";
import { requireSameOrigin } from "@/lib/request";
import { callStorage, forwardedHeaders, storageError } from "@/lib/storage-client";

export const dynamic = "force-dynamic";

type Context = { params: Promise<{ id: string }> };

/**
 * One file, with what the upload page shows once it is stored: the cohort's name and the warnings only the audit
 * trail used to see (empty, content unlike its extension, the same content already in the cohort).
 */
export function GET(req: Request, context: Context) {
  return route(req, "file_details", async (ctx) => {
    const user = await ctx.requireUser();
    const file = await requireFileInRoute(ctx, user, (await context.params).id, "read");
    const [cohort, duplicates, mismatches] = await Promise.all([
      findCohort(db(), file.cohortId),
      duplicatesOf(db(), file),
      searchAudit(db(), { fileId: file.id, action: "content_mismatch", limit: 1 }),
    ]);
    const mismatch = mismatches.rows[0]?.metadata as { detected?: string; extension?: string } | undefined;
    return Response.json({
      id: file.id,
      name: file.originalName,
      cohortId: file.cohortId,
      cohortName: cohort?.name ?? null,
      kind: file.kind,
      status: file.status,
      size: file.size,
      sha256: file.sha256,
      createdAt: file.createdAt,
      expiresAt: file.expiresAt,
      warnings: {
        empty: file.status === "stored" && file.size === 0,
        contentMismatch: mismatch?.detected ? { detected: mismatch.detected, extension: mismatch.extension } : null,
        duplicates,
      },
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
    // Not repeated after a reset: a second DELETE would answer 404 for the first one's success.
    const res = await callStorage("DELETE", "internal/storage/delete", {
      headers: forwardedHeaders(ctx.info, user, file.id),
    });
    if (res.statusCode === 404) throw new DepotError("not_found", "no such file");
    if (res.statusCode !== 200) throw storageError(res);
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
