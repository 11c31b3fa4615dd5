/** A UUID in any letter case: the shape of every id Depot hands out (files, cohorts, users, tokens). */
export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const isUuid = (value: unknown): value is string => typeof value === "string" && UUID_PATTERN.test(value);

/**
 * An id in its canonical form (lower case), or undefined when it is not a UUID. Every id that arrives from outside
 * (path, query, body, form field, tus metadata, a header) goes through this at the edge, so comparisons, storage
 * key prefixes and audit rows only ever see one spelling of an id.
 */
export function canonicalId(value: string | null | undefined): string | undefined {
  return isUuid(value) ? value.toLowerCase() : undefined;
}
