import { type AuditEntry, appendAudit, type User } from "@depot/db";
import { db } from "./db";
import { actorOf, type RequestInfo } from "./request";

/** The web tier's audit rows: server role web, this request's id, the person and their address. */
export function auditWeb(
  info: RequestInfo,
  user: User | null,
  entry: Omit<AuditEntry, "serverRole" | "requestId" | "actor">,
) {
  return appendAudit(db(), { ...entry, serverRole: "web", requestId: info.requestId, actor: actorOf(user, info) });
}
