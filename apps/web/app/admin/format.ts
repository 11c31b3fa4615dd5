const UNITS = ["B", "KB", "MB", "GB", "TB", "PB"];

/** Bytes in decimal units with one decimal place: 1536 → "1.5 KB". */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < UNITS.length - 1) {
    value /= 1000;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${UNITS[unit]}`;
}

/** A timestamp as "yyyy-mm-dd hh:mm:ss UTC", or an em dash. */
export function formatTime(date: Date | null | undefined): string {
  return date ? `${date.toISOString().slice(0, 19).replace("T", " ")} UTC` : "—";
}
