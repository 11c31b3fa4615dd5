import { canonicalId, DepotError, UUID_PATTERN } from "@depot/contract";
import { z } from "zod";

// canonicalId (the contract's) is the one spelling of an id; these are the web's ways of refusing one.

/** canonicalId, or a 404 naming what was not found (an id that cannot exist is not there). */
export function requireId(value: string | null | undefined, what: string): string {
  const id = canonicalId(value);
  if (!id) throw new DepotError("not_found", `no such ${what}`);
  return id;
}

/** A zod field for ids in bodies and query strings: a UUID, returned lower-cased. */
export const uuidField = z
  .string()
  .regex(UUID_PATTERN, { error: "must be a UUID" })
  .transform((v) => v.toLowerCase());
