import { routeLabel } from "@depot/telemetry";
import { expect, test } from "vitest";
import { isUploadRequest, WEB_ROUTES } from "./metrics";

test("web paths are counted under their route's template, never as raw paths", () => {
  expect(routeLabel("/api/files/0b5e1f0e-3c5a-4bb6-9c3e-1b2a3c4d5e6f/download", WEB_ROUTES)).toBe(
    "/api/files/:id/download",
  );
  expect(routeLabel("/api/uploads/tus/abc123", WEB_ROUTES)).toBe("/api/uploads/tus");
  expect(routeLabel("/api/tokens/0b5e1f0e-3c5a-4bb6-9c3e-1b2a3c4d5e6f", WEB_ROUTES)).toBe("/api/tokens/:id");
  expect(routeLabel("/api/probe-12345", WEB_ROUTES)).toBe("/api/unknown");
  expect(routeLabel("/files", WEB_ROUTES)).toBe("page");
  expect(routeLabel("/_next/static/chunks/a.js", WEB_ROUTES)).toBe("/_next");
  expect(routeLabel("/wp-login.php", WEB_ROUTES)).toBe("other");
});

test("uploads in flight are the multipart post and the tus creation and PATCHes", () => {
  expect(isUploadRequest("POST", "/api/uploads")).toBe(true);
  expect(isUploadRequest("PATCH", "/api/uploads/tus")).toBe(true);
  expect(isUploadRequest("POST", "/api/uploads/tus")).toBe(true);
  expect(isUploadRequest("HEAD", "/api/uploads/tus")).toBe(false);
  expect(isUploadRequest("POST", "/api/admin/cohorts")).toBe(false);
});
