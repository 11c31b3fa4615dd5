import { hash } from "node:crypto";

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

/**
 * The text a row hash covers besides the previous hash: the row's content in a fixed order, as canonicalJson writes
 * the array of its fields. Only the metadata can hold objects, so the rest is one JSON.stringify (the same text for an
 * array of strings, numbers and nulls), which the verifier runs for every row of the trail.
 */
export function canonicalContent(c: HashedContent): string {
  return storedContent([
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

/**
 * SQL for a timestamptz column as Date.toISOString() writes it (UTC, milliseconds, "Z"), for text the database builds
 * in place of Node: the audit export's records and the verifier's hashed fields.
 */
export const isoTimeSql = (column: string) => `to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/** The hashed fields in canonicalContent's order, the time in its ISO form: how the verifier reads a row. */
export type StoredContent = [
  occurredAt: string,
  action: string,
  outcome: string,
  serverRole: string,
  hostname: string,
  requestId: string | null,
  actorUserId: string | null,
  actorIp: string | null,
  actorUserAgent: string | null,
  cohortId: string | null,
  fileId: string | null,
  disk: string | null,
  storageKey: string | null,
  bytes: number | null,
  sha256: string | null,
  error: string | null,
  metadata: Record<string, unknown>,
];

/** canonicalContent of the fields in their order; `fields` is left as it was. */
export function storedContent(fields: StoredContent): string {
  return contentOf(JSON.stringify(fields.slice(0, 16)), fields[16]);
}

/**
 * The canonical content from its two parts: the JSON array of the 16 scalar fields as JSON.stringify writes it, and
 * the metadata, whose keys only canonicalJson sorts. The verifier has PostgreSQL write the array (verify.ts).
 */
export function contentOf(scalarsJson: string, metadata: Record<string, unknown>): string {
  return `${scalarsJson.slice(0, -1)},${canonicalJson(metadata)}]`;
}

/** The link: the row's database writer (phi_file_tracking_append, migration 0003) computes the same in SQL. */
export function rowHash(prevHash: string, c: HashedContent): string {
  return linkHash(prevHash, canonicalContent(c));
}

/** sha256 over the previous hash, a line feed and the row's canonical content, in hex. */
export function linkHash(prevHash: string, content: string): string {
  return hash("sha256", `${prevHash}\n${content}`, "hex");
}
