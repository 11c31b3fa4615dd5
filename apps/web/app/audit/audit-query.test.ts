import { describe, expect, test } from "vitest";
import { AUDIT_PAGE_SIZE, filterParams, parseAuditQuery } from "./audit-query";

const ID = "0f8e2b7a-3c1d-4e5f-9a0b-1c2d3e4f5a6b";

describe("parseAuditQuery", () => {
  test("no parameters: no filters, first page of 50", () => {
    expect(parseAuditQuery(new URLSearchParams())).toMatchObject({ ok: true, page: 1, pageSize: AUDIT_PAGE_SIZE });
  });

  test("empty values are ignored and every filter is read", () => {
    const q = parseAuditQuery(
      new URLSearchParams({
        fileId: ID,
        cohortId: "",
        userId: ID,
        action: "stream_upload",
        outcome: "denied",
        requestId: " req-1 ",
        page: "3",
      }),
    );
    expect(q).toMatchObject({
      ok: true,
      page: 3,
      filters: { fileId: ID, userId: ID, action: "stream_upload", outcome: "denied", requestId: "req-1" },
    });
    expect(q.ok && q.filters.cohortId).toBeUndefined();
  });

  test("keyset cursors are row ids", () => {
    const q = parseAuditQuery({ before: "1000000", fileId: ID });
    expect(q).toMatchObject({ ok: true, cursor: { before: 1_000_000n, after: undefined } });
    expect(parseAuditQuery({ after: "12" })).toMatchObject({ ok: true, cursor: { after: 12n } });
    expect(parseAuditQuery({ before: "-1" })).toMatchObject({ ok: false });
    expect(parseAuditQuery({ after: "1e9" })).toMatchObject({ ok: false });
  });

  test("a date-only 'to' covers the whole UTC day; timestamps are taken as they are", () => {
    const q = parseAuditQuery({ from: "2026-03-01", to: "2026-03-02" });
    expect(q.ok && q.filters.from?.toISOString()).toBe("2026-03-01T00:00:00.000Z");
    expect(q.ok && q.filters.to?.toISOString()).toBe("2026-03-02T23:59:59.999Z");
    const t = parseAuditQuery({ to: "2026-03-02T10:00:00Z" });
    expect(t.ok && t.filters.to?.toISOString()).toBe("2026-03-02T10:00:00.000Z");
  });

  test.each([
    { fileId: "nope" },
    { cohortId: "1" },
    { outcome: "maybe" },
    { from: "yesterday" },
    { to: "2026-13-45" },
    { action: "x'; drop table" },
    { page: "0" },
    { pageSize: "100000" },
  ])("refuses %j", (params) => {
    expect(parseAuditQuery(params)).toMatchObject({ ok: false, message: expect.stringContaining("invalid filter") });
  });

  test("filterParams keeps only the filters that are set", () => {
    const q = parseAuditQuery({ fileId: ID, outcome: "success", page: "2" });
    expect(q.ok && filterParams(q.values)).toEqual({ fileId: ID, outcome: "success" });
  });
});
