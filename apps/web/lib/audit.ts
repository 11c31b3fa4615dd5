import { type AuditEntry, appendAudit, type Queryable, type User } from "@depot/db";
import { db } from "./db";
import { actorOf, type RequestInfo } from "./request";

type WebEntry = Omit<AuditEntry, "serverRole" | "requestId" | "actor">;

/**
 * The web tier's audit rows: server role web, this request's id, the person and their address. Inside a
 * transaction (`on`), the row commits or rolls back with the change it describes.
 */
export function auditWeb(info: RequestInfo, user: User | null, entry: WebEntry, on: Queryable = db()) {
  return appendAudit(on, { ...entry, serverRole: "web", requestId: info.requestId, actor: actorOf(user, info) });
}
