import type { RouteTemplate } from "@depot/telemetry";
import { API_ROUTES } from "./methods";

/**
 * The web's routes as metric labels: Next's assets, every API route under its template from the method table
 * (ids as `:id`), the pages, and the scrape itself.
 */
export const WEB_ROUTES: readonly RouteTemplate[] = [
  [/^\/_next\//, "/_next"],
  ...API_ROUTES.map((route) => [route.path, route.label] as const),
  [/^\/api\//, "/api/unknown"],
  [/^\/(login|dashboard|upload|files|audit|admin|tokens)?\/?$/, "page"],
  [/^\/metrics$/, "/metrics"],
  [/^\/health$/, "/health"],
];

const UPLOAD_ROUTES = new Set(API_ROUTES.filter((route) => route.upload).map((route) => route.label));

/** A multipart post or a tus creation or PATCH: a request whose body is a file's bytes. */
export const isUploadRequest = (method: string, route: string) =>
  UPLOAD_ROUTES.has(route) && (method === "POST" || method === "PATCH");
