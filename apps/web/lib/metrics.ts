import type { RouteTemplate } from "@depot/telemetry";

const ID = "[^/]+";

/** The web's routes as metric labels: pages, API routes and Next's assets, each id replaced by `:id`. */
export const WEB_ROUTES: readonly RouteTemplate[] = [
  [/^\/_next\//, "/_next"],
  [/^\/api\/uploads\/tus(\/.*)?$/, "/api/uploads/tus"],
  [/^\/api\/uploads\/?$/, "/api/uploads"],
  [new RegExp(`^/api/files/${ID}/download$`), "/api/files/:id/download"],
  [new RegExp(`^/api/files/${ID}$`), "/api/files/:id"],
  [/^\/api\/files\/?$/, "/api/files"],
  [/^\/api\/audit\/export$/, "/api/audit/export"],
  [/^\/api\/audit\/?$/, "/api/audit"],
  [new RegExp(`^/api/admin/users/${ID}$`), "/api/admin/users/:id"],
  [/^\/api\/admin\/(users|cohorts|memberships)$/, "/api/admin"],
  [/^\/api\/auth\//, "/api/auth"],
  [/^\/api\/(session|cohorts|health)$/, "/api/other"],
  [/^\/api\/maintenance\//, "/api/maintenance"],
  [/^\/api\//, "/api/unknown"],
  [/^\/(login|dashboard|upload|files|audit|admin)?\/?$/, "page"],
  [/^\/metrics$/, "/metrics"],
];

export const isUploadRequest = (method: string, route: string) =>
  (route === "/api/uploads" && method === "POST") ||
  (route === "/api/uploads/tus" && (method === "PATCH" || method === "POST"));
