import { createLogger } from "@depot/telemetry";

/** The web server's logger. Callers pass ids and codes, never file contents, keys or secrets. */
export const logger = createLogger("web");
