import type { FileFilters } from "@depot/db";
import { z } from "zod";

const uuid = z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i);
const schema = z.object({
  cohortId: uuid.optional(),
  kind: z.enum(["precheck", "submission"]).optional(),
  status: z.enum(["uploading", "stored", "failed", "deleted"]).optional(),
  uploaderId: uuid.optional(),
  from: z.coerce.date().optional(),
  to: z.coerce.date().optional(),
  sort: z.enum(["created", "name", "size"]).default("created"),
  order: z.enum(["asc", "desc"]).default("desc"),
  page: z.coerce.number().int().min(1).max(100_000).default(1),
  pageSize: z.coerce.number().int().min(1).max(200).default(25),
});

/** The /files filters from a query string (empty values ignored); null when something is invalid. */
export function parseFileQuery(params: URLSearchParams | Record<string, string | undefined>) {
  const entries = params instanceof URLSearchParams ? Object.fromEntries(params) : params;
  const present = Object.fromEntries(Object.entries(entries).filter(([, v]) => v !== undefined && v !== ""));
  const parsed = schema.safeParse(present);
  if (!parsed.success) return null;
  const { page, pageSize, ...rest } = parsed.data;
  const filters: Omit<FileFilters, "cohortIds"> = { ...rest, limit: pageSize, offset: (page - 1) * pageSize };
  return { page, pageSize, filters, values: parsed.data };
}
