import type { AuditListRow } from "@depot/db";

/** One trail row as JSON: the id as a string (it is a bigint), times as ISO strings. */
export function auditRowJson(r: AuditListRow) {
  return {
    id: r.id.toString(),
    occurredAt: r.occurredAt.toISOString(),
    action: r.action,
    outcome: r.outcome,
    serverRole: r.serverRole,
    hostname: r.hostname,
    requestId: r.requestId,
    actorUserId: r.actorUserId,
    actorEmail: r.actorEmail,
    actorIp: r.actorIp,
    actorUserAgent: r.actorUserAgent,
    cohortId: r.cohortId,
    cohortName: r.cohortName,
    fileId: r.fileId,
    disk: r.disk,
    storageKey: r.storageKey,
    bytes: r.bytes,
    sha256: r.sha256,
    error: r.error,
    metadata: r.metadata,
    prevHash: r.prevHash,
    rowHash: r.rowHash,
  };
}
