import { describe, expect, it } from "vitest";
import { readFileFilters } from "./filters";

const COHORT = "0b7c6a56-8e0f-4b5e-9d3c-3f1f3a7e2b10";

describe("readFileFilters", () => {
  it("shows stored files by default and every status but deleted for 'all'", () => {
    expect(readFileFilters({}).query.filters.status).toBe("stored");
    expect(readFileFilters({ status: "all" }).query.filters.status).toBeUndefined();
    expect(readFileFilters({ status: "failed" }).query.filters.status).toBe("failed");
  });

  it("names a bad value and keeps the other filters", () => {
    const { query, errors } = readFileFilters({ cohortId: COHORT, kind: "precheck", from: "yesterday-ish" });
    expect(errors).toEqual([expect.stringContaining('From: "yesterday-ish" is not a valid value')]);
    expect(query.filters).toMatchObject({ cohortId: COHORT, kind: "precheck", status: "stored" });
    expect(query.filters.from).toBeUndefined();
  });

  it("refuses an email where an uploader id is expected, saying to choose from the list", () => {
    const { query, errors } = readFileFilters({ uploaderId: "someone@example.org", kind: "submission" });
    expect(errors[0]).toContain("choose from the list");
    expect(query.filters).toMatchObject({ kind: "submission" });
    expect(query.filters.uploaderId).toBeUndefined();
  });
});
