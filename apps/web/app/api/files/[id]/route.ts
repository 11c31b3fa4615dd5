import { DepotError } from "@depot/contract";
import { duplicatesOf, findCohort, findFile, searchAudit, type User } from "@depot/db";
import { api } from "@/lib/api";
import { auditIfDenied, auditWeb } from "@/lib/audit";
import { db } from "@/lib/db";
import { requireFilePermission } from "@/lib/permissions";
import { requestInfo, requireSameOrigin } from "@/lib/request";
import { requireUser } from "@/lib/session";
import { forwardedHeaders, storageClient, storageError } from "@/lib/storage-client";

export const dynamic = "force-dynamic";

type Context = { params: Promise<{ id: string }> };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

async function fileFor(user: User, id: string, action: "read" | "delete") {
  return requireFilePermission(user, action, UUID.test(id) ? await findFile(db(), id) : undefined);
}

/**
 * One file, with what the upload page shows once it is stored: the cohort's name and the warnings only the audit
 * trail used to see (empty, content unlike its extension, the same content already in the cohort).
 */
export function GET(_req: Request, context: Context) {
  return api(async () => {
    const user = await requireUser();
    const file = await fileFor(user, (await context.params).id, "read");
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

/** Removes the object from storage and marks the file deleted; both tiers audit it. */
export function DELETE(req: Request, context: Context) {
  const info = requestInfo(req);
  let user: User | null = null;
  return api(async () => {
    try {
      requireSameOrigin(req);
      user = await requireUser();
      const file = await fileFor(user, (await context.params).id, "delete");
      if (file.status === "uploading")
        throw new DepotError("conflict", "this file is still uploading; cancel the upload instead");
      const res = await storageClient().delete("internal/storage/delete", {
        headers: forwardedHeaders(info, user, file.id),
      });
      if (res.statusCode !== 200)
        throw storageError({ statusCode: res.statusCode, headers: res.headers, body: res.body });
      await auditWeb(info, user, {
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
    } catch (error) {
      await auditIfDenied(info, user, error, { route: "file_delete" });
      throw error;
    }
  });
}
