/** One JSON line per event. Callers pass ids and codes, never file contents, keys or secrets. */
export function log(level: "info" | "warn" | "error", message: string, fields: Record<string, unknown> = {}): void {
  if (process.env.DEPOT_LOG === "silent") return;
  const line = JSON.stringify({ time: new Date().toISOString(), level, service: "storage", message, ...fields });
  (level === "info" ? process.stdout : process.stderr).write(`${line}\n`);
}

/** An error's class and code, never its message: messages can carry paths or driver internals. */
export function describeError(error: unknown): string {
  const e = error as { name?: string; code?: string; cause?: unknown } | null;
  return `${e?.name ?? typeof error}${e?.code ? ` (${e.code})` : ""}`;
}
