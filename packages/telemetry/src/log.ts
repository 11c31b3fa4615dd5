import { type DestinationStream, type Logger, pino } from "pino";

export type Service = "web" | "storage";
export type Level = "debug" | "info" | "warn" | "error";
const LEVELS = new Set(["silent", "debug", "info", "warn", "error"]);

/**
 * Headers and fields that carry credentials. Callers should never pass them, but a request's headers or an
 * options object logged whole must not leak a session cookie, an API key or a bearer token either.
 */
const REDACTED_PATHS = ["cookie", "authorization", "apiKey", "password", "token", "secret", "x-api-key"].flatMap(
  (name) => {
    const key = /^[a-z]\w*$/i.test(name) ? `.${name}` : `["${name}"]`;
    return [`headers${key}`, `*.headers${key}`, key.startsWith(".") ? name : key, `*${key}`];
  },
);

/**
 * The one logger of both tiers: one JSON line per event, `{ level, time, service, requestId?, message, ... }`.
 * DEPOT_LOG sets the level (`silent` in tests). Written through the given stream (stdout by default) so a
 * test can read it.
 */
export function createLogger(service: Service, destination: DestinationStream = process.stdout): Logger {
  return pino(
    {
      level: LEVELS.has(process.env.DEPOT_LOG ?? "") ? (process.env.DEPOT_LOG as string) : "info",
      base: { service },
      messageKey: "message",
      timestamp: () => `,"time":"${new Date().toISOString()}"`,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACTED_PATHS, censor: "[redacted]" },
    },
    destination,
  );
}

/** An error's class and code, never its message: messages can carry paths, request details or driver internals. */
export function describeError(error: unknown): string {
  const e = error as { name?: string; code?: string } | null;
  return `${e?.name ?? typeof error}${e?.code ? ` (${e.code})` : ""}`;
}
