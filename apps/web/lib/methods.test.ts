import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";
import { API_BODY_LIMIT, API_ROUTES, refuseBeforeNext } from "./methods";

const apiDir = fileURLToPath(new URL("../app/api", import.meta.url));

function routeFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? routeFiles(join(dir, e.name)) : e.name === "route.ts" ? [join(dir, e.name)] : [],
  );
}

const exported = (source: string) =>
  [...source.matchAll(/export (?:(?:async )?function|const) (GET|HEAD|OPTIONS|POST|PUT|DELETE|PATCH)\b/g)].map(
    (m) => m[1],
  );

describe("the method table", () => {
  test("names exactly the methods each route file exports", () => {
    const files = routeFiles(apiDir);
    expect(files.length).toBe(API_ROUTES.length);
    for (const file of files) {
      // app/api/files/[id]/download/route.ts → /api/files/x/download
      const path = `/api/${relative(apiDir, file)
        .replace(/\/?route\.ts$/, "")
        .replace(/\[\[\.\.\.[^\]]+\]\]/, "x")
        .replace(/\[[^\]]+\]/g, "x")}`.replace(/\/$/, "");
      const route = API_ROUTES.find((r) => r.path.test(path));
      expect(route, path).toBeDefined();
      expect([...(route?.methods ?? [])].sort(), path).toEqual(exported(readFileSync(file, "utf8")).sort());
    }
  });
});

test("each route has its own metric label", () => {
  expect(new Set(API_ROUTES.map((route) => route.label)).size).toBe(API_ROUTES.length);
});

describe("refuseBeforeNext", () => {
  test("TRACE and other methods Next does not route get 405 with Allow, on API routes and pages", () => {
    expect(refuseBeforeNext("TRACE", "/api/files", undefined)).toMatchObject({
      status: 405,
      allow: "GET, HEAD, OPTIONS",
    });
    expect(refuseBeforeNext("PROPFIND", "/api/uploads/tus/abc", undefined)?.allow).toBe(
      "OPTIONS, POST, HEAD, PATCH, DELETE",
    );
    expect(refuseBeforeNext("DELETE", "/api/cohorts", undefined)?.status).toBe(405);
    expect(refuseBeforeNext("TRACE", "/dashboard", undefined)).toMatchObject({ status: 405, allow: "GET, HEAD" });
    expect(refuseBeforeNext("TRACE", "/api/nowhere", undefined)?.status).toBe(404);
  });

  test("routed methods pass to Next", () => {
    expect(refuseBeforeNext("GET", "/api/files", undefined)).toBeNull();
    expect(refuseBeforeNext("HEAD", "/api/files/x/download", undefined)).toBeNull();
    expect(refuseBeforeNext("PATCH", "/api/uploads/tus/abc", "8388608")).toBeNull();
    expect(refuseBeforeNext("GET", "/files", undefined)).toBeNull();
    expect(refuseBeforeNext("POST", "/internal/storage/upload", undefined)).toBeNull(); // Next's 404
    expect(refuseBeforeNext("GET", "/api/nowhere", undefined)).toBeNull();
  });

  test("a declared body over the limit is refused on every route but the uploads", () => {
    expect(refuseBeforeNext("POST", "/api/session", String(API_BODY_LIMIT + 1))?.status).toBe(413);
    expect(refuseBeforeNext("POST", "/api/session", "nonsense")?.status).toBe(413);
    expect(refuseBeforeNext("POST", "/api/session", String(API_BODY_LIMIT))).toBeNull();
    expect(refuseBeforeNext("POST", "/api/uploads", String(100 * API_BODY_LIMIT))).toBeNull();
  });
});
