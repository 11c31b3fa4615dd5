import { expect, test } from "vitest";
import { safeRedirectPath } from "./redirect";

const origin = "https://depot.example.org";

test("same-origin paths are kept, with their query and fragment", () => {
  expect(safeRedirectPath("/files?kind=submission#top", origin)).toBe("/files?kind=submission#top");
  expect(safeRedirectPath("/audit", origin)).toBe("/audit");
});

test.each([
  ["/\\evil.example"],
  ["/\t/evil.example"], // what URLSearchParams gives for callbackUrl=/%09/evil.example
  ["/\n/evil.example"],
  ["//evil.example"],
  ["/.//evil.example"],
  ["/%2e//evil.example"],
  ["\\\\evil.example"],
  ["https://evil.example/"],
  ["javascript:alert(1)"],
  [" /files"],
  [""],
  [null],
])("refused: %j", (target) => {
  const result = safeRedirectPath(target, origin);
  expect(result).toBe("/dashboard");
  expect(new URL(result, origin).origin).toBe(origin);
});

test("every refused variant from the query string, as the login form reads it", () => {
  for (const query of [
    "callbackUrl=/%5Cevil.example",
    "callbackUrl=/%09/evil.example",
    "callbackUrl=/.//evil.example",
  ]) {
    const target = new URLSearchParams(query).get("callbackUrl");
    expect(new URL(safeRedirectPath(target, origin), origin).origin).toBe(origin);
  }
});
