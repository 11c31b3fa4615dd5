import { createHash } from "node:crypto";

export const GENESIS_HASH = "0".repeat(64);

/** JSON with object keys sorted at every depth, so the same content always hashes the same. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value ?? null);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
}

/** The fields a row hash covers, in a fixed order. */
export interface HashedContent {
  occurredAt: Date;
  action: string;
  outcome: string;
  serverRole: string;
  hostname: string;
  requestId: string | null;
  actorUserId: string | null;
  actorIp: string | null;
  actorUserAgent: string | null;
  cohortId: string | null;
  fileId: string | null;
  disk: string | null;
  storageKey: string | null;
  bytes: number | null;
  sha256: string | null;
  error: string | null;
  metadata: Record<string, unknown>;
}

/** The text a row hash covers besides the previous hash: the row's content in a fixed order. */
export function canonicalContent(c: HashedContent): string {
  return canonicalJson([
    c.occurredAt.toISOString(),
    c.action,
    c.outcome,
    c.serverRole,
    c.hostname,
    c.requestId,
    c.actorUserId,
    c.actorIp,
    c.actorUserAgent,
    c.cohortId,
    c.fileId,
    c.disk,
    c.storageKey,
    c.bytes,
    c.sha256,
    c.error,
    c.metadata,
  ]);
}

/** The link: the row's database writer (phi_file_tracking_append, migration 0003) computes the same in SQL. */
export function rowHash(prevHash: string, c: HashedContent): string {
  return createHash("sha256").update(prevHash).update("\n").update(canonicalContent(c)).digest("hex");
}
