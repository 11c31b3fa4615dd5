import { describe, expect, test } from "vitest";
import { parseAuditQuery } from "@/app/audit/audit-query";
import { parseFileQuery } from "./file-query";
import { isValidInstant } from "./filters";

// Each of these once reached PostgreSQL (or JavaScript's Date) and came back as a 500.
const OUT_OF_RANGE = [
  "0000-01-01",
  "-000001-01-01",
  "+275760-09-13",
  "275760-09-13",
  "2026-02-30",
  "2025-02-29",
  "2026-13-01",
  "2026-01-01T25:00:00Z",
  "9999-12-31T23:59:59+99:00",
  "2026-01-01 ",
];

describe("dates", () => {
  test.each(OUT_OF_RANGE)("refused: %j", (value) => {
    expect(isValidInstant(value)).toBe(false);
  });

  test.each(["0001-01-01", "2024-02-29", "9999-12-31", "2026-03-01T10:00:00Z", "2026-03-01T10:00:00.123+02:00"])(
    "accepted: %j",
    (value) => expect(isValidInstant(value)).toBe(true),
  );

  test.each(["from", "to"])("both queries name the field: %s", (field) => {
    for (const value of OUT_OF_RANGE.slice(0, 3)) {
      const files = parseFileQuery({ [field]: value });
      const audit = parseAuditQuery({ [field]: value });
      expect(files).toMatchObject({ ok: false, message: expect.stringContaining(`invalid filter ${field}`) });
      expect(audit).toMatchObject({ ok: false, message: expect.stringContaining(`invalid filter ${field}`) });
    }
  });
});

describe("the other filters", () => {
  test("ids are canonical (lower case) and must be UUIDs", () => {
    const upper = "0F8E2B7A-3C1D-4E5F-9A0B-1C2D3E4F5A6B";
    const q = parseFileQuery({ cohortId: upper, uploaderId: upper.toLowerCase() });
    expect(q.ok && q.filters.cohortId).toBe(upper.toLowerCase());
    expect(parseFileQuery({ cohortId: "1 or 1=1" })).toMatchObject({ message: expect.stringContaining("cohortId") });
    expect(parseAuditQuery({ userId: upper })).toMatchObject({ ok: true, filters: { userId: upper.toLowerCase() } });
  });

  test("a NUL or control byte in free text is refused, not sent to PostgreSQL", () => {
    expect(parseAuditQuery({ requestId: "a\u0000b" })).toMatchObject({
      ok: false,
      message: expect.stringContaining("requestId"),
    });
  });

  test("enums, sorting and pages", () => {
    expect(parseFileQuery({ sort: "id; drop" })).toMatchObject({ message: expect.stringContaining("sort") });
    expect(parseFileQuery({ pageSize: "1e9" })).toMatchObject({ message: expect.stringContaining("pageSize") });
    expect(parseFileQuery({ to: "2026-03-02" })).toMatchObject({
      ok: true,
      filters: { to: new Date("2026-03-02T23:59:59.999Z") },
    });
  });
});
