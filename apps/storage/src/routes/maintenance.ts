import { DepotError, isUuid } from "@depot/contract";
import type { RequestContext, StorageContext } from "../http/context";
import { sendJson } from "../http/respond";
import { runCleanup } from "../ops/cleanup";
import { runIntegrityCheck } from "../ops/integrity";

const flag = (value: string | null) => value === "1" || value === "true";

/** POST /internal/storage/cleanup?hours=24&dry_run=1 — the same run as `pnpm cleanup`. */
export async function cleanup(ctx: StorageContext, request: RequestContext): Promise<void> {
  const { searchParams } = request.url;
  const hours = Number(searchParams.get("hours") ?? ctx.env.cleanupHours);
  if (!Number.isFinite(hours) || hours < 0 || hours > 24 * 3650)
    throw new DepotError("bad_request", "hours must be 0 or more");
  const report = await runCleanup(ctx, { hours, dryRun: flag(searchParams.get("dry_run")), audit: request.audit });
  sendJson(request.res, report.ran ? 200 : 409, report);
}

/** POST /internal/storage/verify_integrity?check_hashes=1&cohort=<id> — the same run as `pnpm verify-integrity`. */
export async function verifyIntegrity(ctx: StorageContext, request: RequestContext): Promise<void> {
  const { searchParams } = request.url;
  const cohortId = searchParams.get("cohort") ?? undefined;
  if (cohortId && !isUuid(cohortId)) throw new DepotError("bad_request", "cohort must be a cohort id");
  const report = await runIntegrityCheck(ctx, {
    cohortId,
    checkHashes: flag(searchParams.get("check_hashes")),
    audit: request.audit,
  });
  sendJson(request.res, 200, report);
}
