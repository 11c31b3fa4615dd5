import { describe, expect, test } from "vitest";
import { contentDisposition, requireAllowedExtension, sanitizeDisplayName } from "./filenames";

describe("sanitizeDisplayName", () => {
  test.each([
    ["../../etc/passwd.csv", "passwd.csv"],
    ["C:\\Users\\x\\visits.csv", "visits.csv"],
    ["a\u0000b.csv", "ab.csv"],
    ["report\u202egnp.csv", "reportgnp.csv"],
    ["\u2066evil\u2069.txt", "evil.txt"],
    ["line\r\nbreak.csv", "linebreak.csv"],
    [".hidden.csv", "hidden.csv"],
    ["CON.csv", "_CON.csv"],
    ["lpt1.txt", "_lpt1.txt"],
    ["", "unnamed"],
    ["...", "unnamed"],
    ['what"if<>.csv', "what_if__.csv"],
  ])("%j becomes %j", (raw, expected) => {
    expect(sanitizeDisplayName(raw)).toBe(expected);
  });

  test("a 1,000-character name is capped and keeps its extension", () => {
    const name = sanitizeDisplayName(`${"a".repeat(1000)}.csv`);
    expect(name).toHaveLength(200);
    expect(name.endsWith(".csv")).toBe(true);
  });
});

test("a refused extension names the allowed ones", () => {
  expect(() => requireAllowedExtension("x.exe", ["csv", "zip"])).toThrow(
    "files of this type are not accepted; allowed extensions: .csv, .zip",
  );
  expect(() => requireAllowedExtension("X.CSV", ["csv"])).not.toThrow();
});

test("Content-Disposition carries an ASCII fallback and the UTF-8 name", () => {
  expect(contentDisposition("résumé (1).csv")).toBe(
    `attachment; filename="r_sum_ (1).csv"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%281%29.csv`,
  );
});
