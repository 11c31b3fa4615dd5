/** One JSON line per event. Callers pass ids and codes, never file contents, keys or secrets. */
export function log(level: "info" | "warn" | "error", message: string, fields: Record<string, unknown> = {}): void {
  if (process.env.DEPOT_LOG === "silent") return;
  const line = JSON.stringify({ time: new Date().toISOString(), level, service: "storage", message, ...fields });
  (level === "info" ? process.stdout : process.stderr).write(`${line}\n`);
}
