import { randomUUID } from "node:crypto";
import { DepotError } from "./errors";

const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
export const MAX_KEY_LENGTH = 512;

/**
 * A storage key is a few plain segments joined by "/". Anything else (`..`, absolute paths, NUL,
 * backslashes, percent-encoding, empty segments) is refused, so a key can never name a place outside
 * its disk, however the driver maps it.
 */
export function validateKey(key: string): string {
  if (typeof key !== "string" || key.length === 0 || key.length > MAX_KEY_LENGTH) {
    throw new DepotError("invalid_key", "storage key is empty or too long");
  }
  const segments = key.split("/");
  for (const segment of segments) {
    if (!SEGMENT.test(segment) || segment.includes("..")) {
      throw new DepotError("invalid_key", "storage key contains a forbidden segment");
    }
  }
  return key;
}

/** A prefix is a key with an optional trailing "/"; the empty prefix and "/" are refused. */
export function validatePrefix(prefix: string): string {
  const trimmed = prefix.endsWith("/") ? prefix.slice(0, -1) : prefix;
  if (trimmed.length === 0) throw new DepotError("invalid_key", "prefix must name at least one segment");
  validateKey(trimmed);
  return prefix;
}

/** `<cohort-id>/<yyyy>/<mm>/<file-id>`: built from ids only, never from a person's file name. */
export function buildStorageKey(cohortId: string, fileId: string = randomUUID(), at: Date = new Date()): string {
  const yyyy = String(at.getUTCFullYear());
  const mm = String(at.getUTCMonth() + 1).padStart(2, "0");
  return validateKey(`${cohortId}/${yyyy}/${mm}/${fileId}`);
}
