/**
 * Which methods each API route answers, checked before Next sees a request: Next answers 500 to methods it
 * does not route (TRACE, PROPFIND, …), so those get a 405 with Allow here. methods.test.ts keeps this table
 * equal to what the route files export.
 */
export const API_ROUTES: readonly {
  path: RegExp;
  /** The route's template, ids as `:id`: its name in metrics. */
  label: string;
  methods: readonly string[];
  upload?: true;
}[] = [
  { path: /^\/api\/session$/, label: "/api/session", methods: ["GET", "POST", "DELETE"] },
  { path: /^\/api\/cohorts$/, label: "/api/cohorts", methods: ["GET"] },
  { path: /^\/api\/files$/, label: "/api/files", methods: ["GET"] },
  { path: /^\/api\/files\/[^/]+$/, label: "/api/files/:id", methods: ["GET", "DELETE"] },
  { path: /^\/api\/files\/[^/]+\/download$/, label: "/api/files/:id/download", methods: ["GET"] },
  { path: /^\/api\/uploads$/, label: "/api/uploads", methods: ["POST"], upload: true },
  {
    path: /^\/api\/uploads\/tus(\/.*)?$/,
    label: "/api/uploads/tus",
    methods: ["OPTIONS", "POST", "HEAD", "PATCH", "DELETE"],
    upload: true,
  },
  { path: /^\/api\/maintenance\/cleanup-preview$/, label: "/api/maintenance/cleanup-preview", methods: ["POST"] },
  { path: /^\/api\/audit$/, label: "/api/audit", methods: ["GET"] },
  { path: /^\/api\/audit\/export$/, label: "/api/audit/export", methods: ["GET"] },
  { path: /^\/api\/admin\/users$/, label: "/api/admin/users", methods: ["GET", "POST"] },
  { path: /^\/api\/admin\/users\/[^/]+$/, label: "/api/admin/users/:id", methods: ["PATCH"] },
  { path: /^\/api\/admin\/cohorts$/, label: "/api/admin/cohorts", methods: ["GET", "POST"] },
  { path: /^\/api\/admin\/memberships$/, label: "/api/admin/memberships", methods: ["PUT", "DELETE"] },
  { path: /^\/api\/admin\/tokens$/, label: "/api/admin/tokens", methods: ["GET"] },
  { path: /^\/api\/me$/, label: "/api/me", methods: ["GET"] },
  { path: /^\/api\/tokens$/, label: "/api/tokens", methods: ["GET", "POST"] },
  { path: /^\/api\/tokens\/[^/]+$/, label: "/api/tokens/:id", methods: ["DELETE"] },
];

/** Methods Next's route handlers know; any other reaches no handler and must not reach Next. */
const ROUTABLE = new Set(["GET", "HEAD", "OPTIONS", "POST", "PUT", "DELETE", "PATCH"]);

/** Bodies larger than this are refused on every API route that is not an upload, before anything reads them. */
export const API_BODY_LIMIT = 64 * 1024;

export interface Refusal {
  status: 404 | 405 | 413;
  code: "not_found" | "method_not_allowed" | "too_large";
  message: string;
  allow?: string;
}

/** What the server answers itself before Next runs, or null to hand the request to Next. */
export function refuseBeforeNext(method: string, pathname: string, contentLength: string | undefined): Refusal | null {
  if (!pathname.startsWith("/api/")) {
    // Pages: Next answers the methods it knows (404 where nothing is); the others are refused here.
    if (ROUTABLE.has(method)) return null;
    return { status: 405, code: "method_not_allowed", message: `${method} is not supported here`, allow: "GET, HEAD" };
  }
  const route = API_ROUTES.find((r) => r.path.test(pathname));
  if (!route) {
    return ROUTABLE.has(method) ? null : { status: 404, code: "not_found", message: "no such API route" };
  }
  const allowed = new Set(route.methods);
  // Next answers HEAD from GET and OPTIONS by itself.
  if (allowed.has("GET")) allowed.add("HEAD");
  allowed.add("OPTIONS");
  if (!allowed.has(method)) {
    return {
      status: 405,
      code: "method_not_allowed",
      message: `${method} is not supported on this route`,
      allow: [...allowed].join(", "),
    };
  }
  if (!route.upload && contentLength !== undefined && !(Number(contentLength) <= API_BODY_LIMIT)) {
    return { status: 413, code: "too_large", message: `the request body exceeds ${API_BODY_LIMIT} bytes` };
  }
  return null;
}
