import { parseFileQuery } from "@/lib/file-query";

/** The filters a person can set on the Files page, with the words the page shows for each. */
export const FILTER_LABELS: Record<string, string> = {
  cohortId: "Cohort",
  kind: "Kind",
  status: "Status",
  uploaderId: "Uploader",
  from: "From",
  to: "To",
  sort: "Sort",
  order: "Order",
  page: "Page",
  pageSize: "Page size",
};

/** The page's default view is stored files; "all" means every status but deleted (the API's default). */
export const DEFAULT_STATUS = "stored";

/**
 * The Files page's query, checked one filter at a time: a bad value is named in `errors` and dropped, and the
 * other filters stay as the person set them (instead of every filter silently resetting).
 */
export function readFileFilters(raw: Record<string, string | undefined>) {
  const errors: string[] = [];
  const kept: Record<string, string> = {};
  const status = raw.status || DEFAULT_STATUS;
  const candidates: Record<string, string | undefined> = { ...raw, status: status === "all" ? undefined : status };
  for (const [key, value] of Object.entries(candidates)) {
    if (value === undefined || value === "" || !(key in FILTER_LABELS)) continue;
    if (parseFileQuery({ [key]: value })) kept[key] = value;
    else
      errors.push(`${FILTER_LABELS[key]}: "${value.slice(0, 60)}" is not a valid value${hint(key)}; it was ignored.`);
  }
  const query = parseFileQuery(kept) ?? parseFileQuery({});
  if (!query) throw new Error("the default file query is invalid");
  return { query, errors, status };
}

const hint = (key: string) =>
  key === "from" || key === "to"
    ? " (a date such as 2026-01-31)"
    : key === "uploaderId"
      ? " (choose from the list)"
      : "";
