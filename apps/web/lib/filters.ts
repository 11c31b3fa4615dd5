import { z } from "zod";

/**
 * The field rules that filters (the /files and /audit pages, /api/files, /api/audit and its export) share, set to
 * what PostgreSQL accepts: a value it would refuse (year 0000, a negative year, `+275760-…`, 31 February, a NUL
 * byte) is a 400 naming the field, never a 500 from the database.
 */

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?$/;

/** Whether `value` is yyyy-mm-dd or an ISO timestamp in the years 0001–9999, naming a day that exists. */
export function isValidInstant(value: string): boolean {
  const m = DATE.exec(value) ?? TIMESTAMP.exec(value);
  if (!m) return false;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (year < 1 || month < 1 || month > 12 || day < 1) return false;
  const daysInMonth = new Date(Date.UTC(2000, month, 0)).getUTCDate() - (month === 2 && !isLeap(year) ? 1 : 0);
  return day <= daysInMonth && !Number.isNaN(Date.parse(value));
}

const isLeap = (y: number) => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;

/**
 * A date filter as a Date: a bare date is a whole UTC day, so `from` starts at its midnight and `to` ends at its
 * last millisecond; a timestamp is taken as given.
 */
export function instantOf(value: string, edge: "from" | "to"): Date {
  return new Date(DATE.test(value) && edge === "to" ? `${value}T23:59:59.999Z` : value);
}

export const instantField = z
  .string()
  .refine(isValidInstant, { error: "must be a date (yyyy-mm-dd) or an ISO timestamp, years 0001 to 9999" });

/** Free text a filter compares for equality: printable, no NUL (PostgreSQL text refuses it). */
export const tokenField = (max: number) =>
  z
    .string()
    .max(max)
    .regex(/^[\x21-\x7e]+$/, { error: "printable characters only" });

/** `invalid filter <field>: <problem>` for the first problem zod found. */
export function filterProblem(error: z.ZodError): string {
  const issue = error.issues[0];
  return `invalid filter ${issue?.path.join(".") || "query"}: ${issue?.message ?? "invalid"}`;
}

/** Query-string values as one string each (the first of repeats), trimmed, empty ones left out. */
export function presentValues(
  params: URLSearchParams | Record<string, string | string[] | undefined>,
): Record<string, string> {
  const entries =
    params instanceof URLSearchParams
      ? [...new Set(params.keys())].map((k) => [k, params.get(k) ?? undefined] as const)
      : Object.entries(params).map(([k, v]) => [k, Array.isArray(v) ? v[0] : v] as const);
  const out: Record<string, string> = {};
  for (const [k, v] of entries) {
    const value = typeof v === "string" ? v.trim() : undefined;
    if (value) out[k] = value;
  }
  return out;
}
