export { formatBytes } from "@depot/contract/bytes";

/** A point in time with its time zone: "2026-12-02 16:42 UTC", or an em dash. */
export function formatTime(date: Date | string | null | undefined, withSeconds = false): string {
  if (!date) return "—";
  const d = typeof date === "string" ? new Date(date) : date;
  return `${d
    .toISOString()
    .slice(0, withSeconds ? 19 : 16)
    .replace("T", " ")} UTC`;
}
