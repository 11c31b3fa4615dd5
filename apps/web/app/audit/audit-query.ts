import type { AuditFilters } from "@depot/db";
import { z } from "zod";
import { filterProblem, instantField as instant, instantOf, presentValues, tokenField } from "@/lib/filters";
import { uuidField as uuid } from "@/lib/ids";

export const AUDIT_PAGE_SIZE = 50;

const schema = z.object({
  fileId: uuid.optional(),
  cohortId: uuid.optional(),
  userId: uuid.optional(),
  action: z
    .string()
    .max(100)
    .regex(/^[a-z0-9_]+$/, { error: "letters, digits and _ only" })
    .optional(),
  outcome: z.enum(["success", "failure", "denied"]).optional(),
  from: instant.optional(),
  to: instant.optional(),
  requestId: tokenField(200).optional(),
  page: z.coerce.number().int().min(1).max(1_000_000).default(1),
  /** Keyset cursors (row ids): the page of rows older than `before`, or newer than `after`. */
  before: z
    .string()
    .regex(/^\d{1,18}$/, { error: "must be a row id" })
    .optional(),
  after: z
    .string()
    .regex(/^\d{1,18}$/, { error: "must be a row id" })
    .optional(),
  pageSize: z.coerce.number().int().min(1).max(500).default(AUDIT_PAGE_SIZE),
});

export type AuditQueryValues = z.output<typeof schema>;

export type AuditQuery =
  | {
      ok: true;
      filters: AuditFilters;
      page: number;
      pageSize: number;
      cursor: { before?: bigint; after?: bigint };
      values: AuditQueryValues;
    }
  | { ok: false; message: string };

/**
 * The audit filters from a query string; empty values are ignored. A date without a time is a whole UTC
 * day: `from=2026-03-01` starts at its midnight, `to=2026-03-01` ends at its last millisecond.
 */
export function parseAuditQuery(params: URLSearchParams | Record<string, string | string[] | undefined>): AuditQuery {
  const parsed = schema.safeParse(presentValues(params));
  if (!parsed.success) return { ok: false, message: filterProblem(parsed.error) };
  const v = parsed.data;
  const from = v.from ? instantOf(v.from, "from") : undefined;
  const to = v.to ? instantOf(v.to, "to") : undefined;
  const filters: AuditFilters = {
    fileId: v.fileId,
    cohortId: v.cohortId,
    userId: v.userId,
    action: v.action,
    outcome: v.outcome,
    from,
    to,
    requestId: v.requestId,
  };
  const cursor = {
    before: v.before === undefined ? undefined : BigInt(v.before),
    after: v.after === undefined ? undefined : BigInt(v.after),
  };
  return { ok: true, filters, page: v.page, pageSize: v.pageSize, cursor, values: v };
}

/** The filters that are set, as strings: for links, audit metadata and the export URL. */
export function filterParams(values: Partial<AuditQueryValues>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of ["fileId", "cohortId", "userId", "action", "outcome", "from", "to", "requestId"] as const) {
    const value = values[key];
    if (value !== undefined && value !== "") out[key] = String(value);
  }
  return out;
}
