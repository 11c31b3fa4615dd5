import { describe, expect, test } from "vitest";
import { buildStorageKey, validateKey, validatePrefix } from "./keys";

describe("validateKey", () => {
  test.each([
    "../x",
    "a/../b",
    "..%2fetc",
    "%2e%2e/x",
    "/etc/passwd",
    "a\0b",
    "a\\b",
    "a//b",
    "a/",
    ".hidden",
    "a/./b",
    "x".repeat(600),
    "",
    "C:/x",
    "a b",
  ])("refuses %j", (key) => {
    expect(() => validateKey(key)).toThrow(expect.objectContaining({ code: "invalid_key", status: 400 }));
  });

  test.each(["a", "cohort-1/2026/11/0f8e2b7a-3c1d-4e5f-9a0b-1c2d3e4f5a6b", "tus/abc.part", "a_b-c.d"])(
    "accepts %j",
    (key) => {
      expect(validateKey(key)).toBe(key);
    },
  );
});

test("validatePrefix refuses empty, slash and wildcards", () => {
  for (const prefix of ["", "/", "*", "a/*", "%"]) expect(() => validatePrefix(prefix)).toThrow();
  expect(validatePrefix("cohort/2026/")).toBe("cohort/2026/");
});

test("buildStorageKey uses ids and the UTC month, never a file name", () => {
  const key = buildStorageKey("c0ffee00-0000-4000-8000-000000000000", "f1", new Date("2026-03-31T23:30:00Z"));
  expect(key).toBe("c0ffee00-0000-4000-8000-000000000000/2026/03/f1");
});
