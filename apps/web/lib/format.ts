import { prettierBytes } from "@transloadit/prettier-bytes";

/**
 * Every page formats bytes with this one function, the same one Uppy's Dashboard uses on the upload page, so a
 * size reads the same everywhere: multiples of 1024, written B, KB, MB, GB (8 MiB chunks read "8 MB").
 */
export function formatBytes(bytes: number): string {
  return prettierBytes(bytes);
}

/** A point in time with its time zone: "2026-12-02 16:42 UTC", or an em dash. */
export function formatTime(date: Date | string | null | undefined, withSeconds = false): string {
  if (!date) return "—";
  const d = typeof date === "string" ? new Date(date) : date;
  return `${d
    .toISOString()
    .slice(0, withSeconds ? 19 : 16)
    .replace("T", " ")} UTC`;
}
