import type { FileFilters } from "@depot/db";
import { z } from "zod";
import { filterProblem, instantField, instantOf, presentValues } from "./filters";
import { uuidField } from "./ids";

const schema = z.object({
  cohortId: uuidField.optional(),
  kind: z.enum(["precheck", "submission"]).optional(),
  status: z.enum(["uploading", "stored", "failed", "deleted"]).optional(),
  uploaderId: uuidField.optional(),
  from: instantField.optional(),
  to: instantField.optional(),
  sort: z.enum(["created", "name", "size"]).default("created"),
  order: z.enum(["asc", "desc"]).default("desc"),
  page: z.coerce.number().int().min(1).max(100_000).default(1),
  pageSize: z.coerce.number().int().min(1).max(200).default(25),
});

export type FileQuery =
  | {
      ok: true;
      page: number;
      pageSize: number;
      filters: Omit<FileFilters, "cohortIds">;
      values: z.output<typeof schema>;
    }
  | { ok: false; message: string };

/**
 * The /files filters from a query string (empty values ignored), validated against what the database accepts;
 * a refusal names the field. A bare `to` date includes that whole day.
 */
export function parseFileQuery(params: URLSearchParams | Record<string, string | string[] | undefined>): FileQuery {
  const parsed = schema.safeParse(presentValues(params));
  if (!parsed.success) return { ok: false, message: filterProblem(parsed.error) };
  const { page, pageSize, from, to, ...rest } = parsed.data;
  const filters: Omit<FileFilters, "cohortIds"> = {
    ...rest,
    from: from ? instantOf(from, "from") : undefined,
    to: to ? instantOf(to, "to") : undefined,
    limit: pageSize,
    offset: (page - 1) * pageSize,
  };
  return { ok: true, page, pageSize, filters, values: parsed.data };
}
