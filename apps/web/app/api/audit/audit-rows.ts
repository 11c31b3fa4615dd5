import type { AuditExportRow, AuditListRow } from "@depot/db";
import type { CsvValue } from "@/lib/csv";

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

/** The export's columns: every stored field (hashes included, so a copy can be checked offline) and names. */
export const AUDIT_CSV_HEADER = [
  "id",
  "occurred_at",
  "action",
  "outcome",
  "server_role",
  "hostname",
  "request_id",
  "actor_user_id",
  "actor_email",
  "actor_ip",
  "actor_user_agent",
  "cohort_id",
  "cohort_name",
  "file_id",
  "disk",
  "storage_key",
  "bytes",
  "sha256",
  "error",
  "metadata",
  "prev_hash",
  "row_hash",
] as const;

/** One exported row's fields in AUDIT_CSV_HEADER's order, written as the JSON API writes them. */
export function auditCsvValues(r: AuditExportRow): CsvValue[] {
  return [
    r.id,
    new Date(Number(r.occurredMs)),
    r.action,
    r.outcome,
    r.serverRole,
    r.hostname,
    r.requestId,
    r.actorUserId,
    r.actorEmail,
    r.actorIp,
    r.actorUserAgent,
    r.cohortId,
    r.cohortName,
    r.fileId,
    r.disk,
    r.storageKey,
    r.bytes === null ? null : Number(r.bytes),
    r.sha256,
    r.error,
    r.metadata,
    r.prevHash,
    r.rowHash,
  ];
}
