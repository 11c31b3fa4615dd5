import { DepotError } from "@depot/contract";
import { type AuditEntry, appendAudit, type Queryable, type User } from "@depot/db";
import { db } from "./db";
import { actorOf, type RequestInfo } from "./request";
import { tokenAuditFields } from "./tokens";

type WebEntry = Omit<AuditEntry, "serverRole" | "requestId" | "actor">;

/**
 * The web tier's audit rows: server role web, this request's id, the person and their address, and the
 * personal access token when the request came with one. Inside a
 * transaction (`on`), the row commits or rolls back with the change it describes.
 */
export function auditWeb(info: RequestInfo, user: User | null, entry: WebEntry, on: Queryable = db()) {
  const metadata = { ...entry.metadata, ...tokenAuditFields(user) };
  return appendAudit(on, {
    ...entry,
    metadata,
    serverRole: "web",
    requestId: info.requestId,
    actor: actorOf(user, info),
  });
}

/** A refusal of who may do what (401 or 403) leaves an access_denied row; other errors are the caller's to record. */
export async function auditIfDenied(
  info: RequestInfo,
  user: User | null,
  error: unknown,
  metadata: Record<string, unknown>,
) {
  if (!(error instanceof DepotError) || (error.code !== "forbidden" && error.code !== "unauthorized")) return;
  await auditWeb(info, user, { action: "access_denied", outcome: "denied", error: error.code, metadata }).catch(
    () => {},
  );
}
