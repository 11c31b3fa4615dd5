import { createLogger, describeError } from "@depot/telemetry";

/** The storage service's logger. Callers pass ids and codes, never file contents, keys or secrets. */
export const logger = createLogger("storage");

export function log(level: "info" | "warn" | "error", message: string, fields: Record<string, unknown> = {}): void {
  logger[level](fields, message);
}

export { describeError };
