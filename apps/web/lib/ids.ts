import { DepotError } from "@depot/contract";
import { z } from "zod";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * An id in its canonical form (lower case), or undefined when it is not a UUID. Every id that arrives from
 * outside (path, query, body, form field, tus metadata) goes through this at the edge, so comparisons, storage
 * key prefixes and audit rows only ever see one spelling of an id.
 */
export function canonicalId(value: string | null | undefined): string | undefined {
  return typeof value === "string" && UUID.test(value) ? value.toLowerCase() : undefined;
}

/** canonicalId, or a 404 naming what was not found (an id that cannot exist is not there). */
export function requireId(value: string | null | undefined, what: string): string {
  const id = canonicalId(value);
  if (!id) throw new DepotError("not_found", `no such ${what}`);
  return id;
}

/** A zod field for ids in bodies and query strings: a UUID, returned lower-cased. */
export const uuidField = z
  .string()
  .regex(UUID, { error: "must be a UUID" })
  .transform((v) => v.toLowerCase());
