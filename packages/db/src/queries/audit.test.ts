import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { appendAuditBatch } from "../audit/bulk";
import { appendAudit } from "../audit/writer";
import { createDb, type Database } from "../client";
import { phiFileTracking } from "../schema";
import { createTestDatabase, type TestDatabase } from "../testing";
import { AUDIT_CSV_HEADER, auditCsvPages, cappedCount, searchAudit } from "./audit";
import { ensureCohort } from "./cohorts";
import { createUser } from "./users";

let database: TestDatabase;
let db: Database;
let close: () => Promise<void>;

const FILE_A = "aaaaaaaa-0000-4000-8000-000000000001";
const FILE_B = "bbbbbbbb-0000-4000-8000-000000000002";
let userId: string;
let otherUserId: string;
let cohortId: string;
let otherCohortId: string;
let allIds: bigint[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  ({ db, close } = createDb(database.url, { max: 3 }));
  userId = (await createUser(db, { email: "auditor@example.org", name: "A", password: "auditor-password" })).id;
  otherUserId = (await createUser(db, { email: "other@example.org", name: "O", password: "other-password-1" })).id;
  cohortId = (await ensureCohort(db, { name: "Audit A" })).cohort.id;
  otherCohortId = (await ensureCohort(db, { name: "Audit B" })).cohort.id;

  // 25 rows: request req-<n div 2> pairs a web row with a services row, as an upload does.
  for (let n = 0; n < 25; n++) {
    const { id } = await appendAudit(db, {
      action: n % 5 === 4 ? "access_denied" : n % 2 ? "stream_download" : "stream_upload",
      outcome: n % 5 === 4 ? "denied" : "success",
      serverRole: n % 2 ? "services" : "web",
      requestId: `req-${Math.floor(n / 2)}`,
      actor: { userId: n % 3 === 0 ? otherUserId : userId, ip: "192.0.2.9" },
      cohortId: n < 20 ? cohortId : otherCohortId,
      fileId: n % 2 ? FILE_A : FILE_B,
      bytes: n,
      metadata: { n },
    });
    allIds.push(id);
  }
  allIds = allIds.sort((a, b) => (a < b ? -1 : 1));
});
afterAll(async () => {
  await close();
  await database.drop();
});

describe("searchAudit", () => {
  test("without filters: every row, newest first, with total and names", async () => {
    const { rows, total } = await searchAudit(db, { limit: 10 });
    expect(total).toBe(25);
    expect(rows).toHaveLength(10);
    expect(rows.map((r) => r.id)).toEqual([...allIds].reverse().slice(0, 10));
    expect(rows[0]).toMatchObject({ cohortName: "Audit B", metadata: { n: 24 } });
    expect(rows.find((r) => r.actorUserId === userId)?.actorEmail).toBe("auditor@example.org");
  });

  test("limit and offset page through without overlap", async () => {
    const first = await searchAudit(db, { limit: 10, offset: 0 });
    const second = await searchAudit(db, { limit: 10, offset: 10 });
    const third = await searchAudit(db, { limit: 10, offset: 20 });
    const ids = [...first.rows, ...second.rows, ...third.rows].map((r) => r.id);
    expect(third.rows).toHaveLength(5);
    expect(new Set(ids).size).toBe(25);
  });

  test("keyset pages (before, then after) walk the trail both ways without overlap or gaps", async () => {
    const newestFirst = [...allIds].reverse();
    const seen: bigint[] = [];
    let page = await searchAudit(db, { limit: 10 });
    expect(page).toMatchObject({ hasNewer: false, hasOlder: true });
    seen.push(...page.rows.map((r) => r.id));
    while (page.hasOlder) {
      page = await searchAudit(db, { limit: 10, before: page.rows.at(-1)!.id });
      expect(page.hasNewer).toBe(true);
      seen.push(...page.rows.map((r) => r.id));
    }
    expect(seen).toEqual(newestFirst);
    expect(page.rows).toHaveLength(5);
    // Back from the oldest page: after = the first row's id gives the 10 rows just newer, newest first.
    const back = await searchAudit(db, { limit: 10, after: page.rows[0]!.id });
    expect(back.rows.map((r) => r.id)).toEqual(newestFirst.slice(10, 20));
    expect(back).toMatchObject({ hasNewer: true, hasOlder: true });
    const top = await searchAudit(db, { limit: 10, after: back.rows[0]!.id });
    expect(top.rows.map((r) => r.id)).toEqual(newestFirst.slice(0, 10));
    expect(top.hasNewer).toBe(false);
  });

  test("keyset pages keep the filters", async () => {
    const first = await searchAudit(db, { fileId: FILE_A, limit: 5 });
    const second = await searchAudit(db, { fileId: FILE_A, limit: 5, before: first.rows.at(-1)!.id });
    const third = await searchAudit(db, { fileId: FILE_A, limit: 5, before: second.rows.at(-1)!.id });
    const ids = [...first.rows, ...second.rows, ...third.rows].map((r) => r.id);
    expect(ids).toHaveLength(12);
    expect(new Set(ids).size).toBe(12);
    expect([...first.rows, ...second.rows, ...third.rows].every((r) => r.fileId === FILE_A)).toBe(true);
    expect(third.hasOlder).toBe(false);
    expect(first.total).toBe(12);
  });

  test("counts stop at the cap and say so", async () => {
    expect(await cappedCount(db, phiFileTracking, undefined, 30)).toEqual({ total: 25, exact: true });
    expect(await cappedCount(db, phiFileTracking, undefined, 25)).toEqual({ total: 25, exact: true });
    expect(await cappedCount(db, phiFileTracking, undefined, 24)).toEqual({ total: 24, exact: false });
    expect((await searchAudit(db, { limit: 1 })).totalExact).toBe(true);
  });

  test("each filter narrows the result", async () => {
    const count = async (filters: Parameters<typeof searchAudit>[1]) => (await searchAudit(db, filters)).total;
    expect(await count({ fileId: FILE_A })).toBe(12);
    expect(await count({ cohortId: otherCohortId })).toBe(5);
    expect(await count({ userId: otherUserId })).toBe(9); // n = 0, 3, …, 24
    expect(await count({ action: "access_denied" })).toBe(5);
    expect(await count({ outcome: "denied" })).toBe(5);
    expect(await count({ requestId: "req-3" })).toBe(2);
    expect(await count({ requestId: "req-3", fileId: FILE_A })).toBe(1);
    expect(await count({ fileId: FILE_A, outcome: "denied", cohortId })).toBe(2); // n = 9, 19
    expect(await count({ userId: "00000000-0000-4000-8000-000000000000" })).toBe(0);

    const { rows } = await searchAudit(db, { requestId: "req-3" });
    expect(rows.map((r) => r.serverRole)).toEqual(["services", "web"]);
  });

  test("from and to bound occurred_at inclusively", async () => {
    const all = (await searchAudit(db, { limit: 100 })).rows.reverse();
    const from = all[5]!.occurredAt;
    const to = all[14]!.occurredAt;
    const { rows, total } = await searchAudit(db, { from, to, limit: 100 });
    // Rows written in the same millisecond share a timestamp, so check by time rather than by count.
    expect(total).toBe(all.filter((r) => r.occurredAt >= from && r.occurredAt <= to).length);
    expect(total).toBeGreaterThanOrEqual(10);
    for (const r of rows) {
      expect(r.occurredAt.getTime()).toBeGreaterThanOrEqual(from.getTime());
      expect(r.occurredAt.getTime()).toBeLessThanOrEqual(to.getTime());
    }
    expect(await searchAudit(db, { from: new Date(Date.now() + 3_600_000) })).toMatchObject({ total: 0 });
  });
});

describe("searchAudit by date range", () => {
  test("pages newest first by time, then id, both ways, when times and ids do not rise together", async () => {
    const fresh = await createTestDatabase();
    const other = createDb(fresh.url, { max: 1 });
    try {
      const day = (n: number) => new Date(Date.UTC(2025, 0, 1 + n));
      // An import keeps the original times: out of order against the ids, some shared.
      const days = [5, 1, 9, 3, 3, 7, 0, 12, 3, 8, 2, 6, 10, 4, 11];
      await appendAuditBatch(
        other.db,
        days.map((n, i) => ({
          occurredAt: day(n),
          action: "imported",
          outcome: "success",
          serverRole: "cli",
          hostname: "import",
          requestId: `import-${i}`,
          actorUserId: null,
          actorIp: null,
          actorUserAgent: null,
          cohortId: null,
          fileId: null,
          disk: null,
          storageKey: null,
          bytes: i,
          sha256: null,
          error: null,
          metadata: {},
        })),
      );
      const range = { from: day(2), to: day(10) };
      const all = (await searchAudit(other.db, { limit: 100 })).rows;
      const expected = all
        .filter((r) => r.occurredAt >= range.from && r.occurredAt <= range.to)
        .sort((a, b) => b.occurredAt.getTime() - a.occurredAt.getTime() || (a.id < b.id ? 1 : -1))
        .map((r) => r.id);
      expect(expected).toHaveLength(11);

      const seen: bigint[] = [];
      const pages = [];
      let page = await searchAudit(other.db, { ...range, limit: 4 });
      pages.push(page);
      seen.push(...page.rows.map((r) => r.id));
      while (page.hasOlder) {
        page = await searchAudit(other.db, { ...range, limit: 4, before: page.rows.at(-1)!.id });
        pages.push(page);
        seen.push(...page.rows.map((r) => r.id));
      }
      expect(seen).toEqual(expected);
      expect(pages.map((p) => p.rows.length)).toEqual([4, 4, 3]);
      const back = await searchAudit(other.db, { ...range, limit: 4, after: pages[2]!.rows[0]!.id });
      expect(back.rows.map((r) => r.id)).toEqual(expected.slice(4, 8));
      const top = await searchAudit(other.db, { ...range, limit: 4, after: back.rows[0]!.id });
      expect(top.rows.map((r) => r.id)).toEqual(expected.slice(0, 4));
      expect(top.hasNewer).toBe(false);
    } finally {
      await other.close();
      await fresh.drop();
    }
  });
});

describe("auditCsvPages", () => {
  const idOf = (line: string) => BigInt(line.slice(0, line.indexOf(",")));
  async function collect(gen: AsyncGenerator<string[]>) {
    const ids: bigint[] = [];
    for await (const page of gen) for (const line of page) ids.push(idOf(line));
    return ids;
  }

  test("returns every row exactly once, oldest first, across pages of a small size", async () => {
    for (const pageSize of [1, 4, 5, 7, 25, 1000]) {
      const ids = await collect(auditCsvPages(db, {}, { pageSize }));
      expect(ids).toEqual(allIds);
    }
  });

  /** A connection whose statements are recorded, to see which queries a walk made and when. */
  async function loggedDb() {
    const queries: string[] = [];
    const logged = createDb(database.url, { max: 1 });
    const { drizzle } = await import("drizzle-orm/postgres-js");
    const schema = await import("../schema");
    return { queries, logged, spy: drizzle(logged.sql, { schema, logger: { logQuery: (q) => queries.push(q) } }) };
  }

  test("pages with keyset queries only: no OFFSET, bounded by id", async () => {
    const { queries, spy, logged } = await loggedDb();
    try {
      const ids = await collect(auditCsvPages(spy, {}, { pageSize: 10 }));
      expect(ids).toHaveLength(25);
      const pages = queries.filter((q) => q.includes('"phi_file_tracking"."id" >'));
      expect(pages).toHaveLength(3);
      for (const q of pages) expect(q.toLowerCase()).not.toContain("offset");
    } finally {
      await logged.close();
    }
  });

  test("reads one page ahead of a consumer that stops, no more", async () => {
    const { queries, spy, logged } = await loggedDb();
    const pages = () => queries.filter((q) => q.includes('"phi_file_tracking"."id" >')).length;
    try {
      const gen = auditCsvPages(spy, {}, { pageSize: 5 });
      expect((await gen.next()).value).toHaveLength(5);
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(pages()).toBe(2);
      expect((await gen.next()).value).toHaveLength(5);
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(pages()).toBe(3);
      await gen.return();
      expect(pages()).toBe(3);
    } finally {
      await logged.close();
    }
  });

  test("applies the filters", async () => {
    const lines: string[] = [];
    for await (const page of auditCsvPages(db, { fileId: FILE_A, outcome: "success" }, { pageSize: 3 }))
      lines.push(...page);
    expect(lines).toHaveLength(10);
    expect(lines.every((line) => line.includes(`,success,`) && line.includes(`,${FILE_A},`))).toBe(true);
  });

  test("leaves out rows appended after the export began", async () => {
    const gen = auditCsvPages(db, {}, { pageSize: 5 });
    const first = await gen.next();
    expect(first.value).toHaveLength(5);
    await appendAudit(db, { action: "late_row", outcome: "success", serverRole: "cli" });
    const rest = await collect(gen);
    expect(rest).toHaveLength(20);
    const [late] = await db.execute<{ n: number }>(
      sql`select count(*)::int as n from phi_file_tracking where action = 'late_row'`,
    );
    expect(late?.n).toBe(1);
  });

  test("an empty trail yields nothing", async () => {
    const fresh = await createTestDatabase();
    const other = createDb(fresh.url, { max: 1 });
    try {
      expect(await collect(auditCsvPages(other.db, {}))).toEqual([]);
    } finally {
      await other.close();
      await fresh.drop();
    }
  });
});

describe("depot_csv_field (migration 0010): one CSV field, written by the database", () => {
  // Last in this file: it appends a row of its own.
  test("writes every column of a row in the header's order, one CRLF-terminated record", async () => {
    const { cohort } = await ensureCohort(db, { name: '=HYPERLINK("x")' });
    const row = await appendAudit(db, {
      action: "stream_upload",
      outcome: "success",
      serverRole: "web",
      requestId: 'req, quoted "one"',
      actor: { userId, ip: "192.0.2.7", userAgent: "-agent\nwith a line feed" },
      cohortId: cohort.id,
      fileId: FILE_B,
      disk: "workspace",
      storageKey: `${cohort.id}/2026/12/${FILE_B}`,
      bytes: 12345678901,
      sha256: "ab".repeat(32),
      metadata: { name: "a,b.csv", n: 1 },
    });
    /** What the database stored of a row that the record must show as it is. */
    const storedOf = async (id: bigint) => {
      const [stored] = await db.execute<{ occurred_at: string; hostname: string; prev_hash: string; row_hash: string }>(
        sql`select to_json(occurred_at)#>>'{}' as occurred_at, hostname, prev_hash, row_hash
            from phi_file_tracking where id = ${id.toString()}`,
      );
      return { ...stored, occurredAt: new Date(stored?.occurred_at ?? "").toISOString() };
    };
    const stored = await storedOf(row.id);
    expect(AUDIT_CSV_HEADER).toBe(
      "id,occurred_at,action,outcome,server_role,hostname,request_id,actor_user_id,actor_email,actor_ip," +
        "actor_user_agent,cohort_id,cohort_name,file_id,disk,storage_key,bytes,sha256,error,metadata,prev_hash,row_hash\r\n",
    );
    // And a row with nothing to quote or neutralise, which the database writes on its fast path.
    const simple = await appendAudit(db, {
      action: "stream_download",
      outcome: "failure",
      serverRole: "services",
      cohortId: cohort.id,
      error: "not_found",
      metadata: {},
    });
    const simpleStored = await storedOf(simple.id);
    const lines: string[] = [];
    for await (const page of auditCsvPages(db, { cohortId: cohort.id })) lines.push(...page);
    expect(lines[1]).toBe(
      [
        simple.id.toString(),
        simpleStored.occurredAt,
        "stream_download",
        "failure",
        "services",
        simpleStored.hostname,
        "",
        "",
        "",
        "",
        "",
        cohort.id,
        `"'=HYPERLINK(""x"")"`,
        "",
        "",
        "",
        "",
        "",
        "not_found",
        "{}",
        simpleStored.prev_hash,
        simple.rowHash,
      ].join(",") + "\r\n",
    );
    expect(lines[0]).toEqual(
      [
        row.id.toString(),
        stored.occurredAt,
        "stream_upload",
        "success",
        "web",
        stored.hostname,
        '"req, quoted ""one"""',
        userId,
        "auditor@example.org",
        "192.0.2.7",
        '"\'-agent\nwith a line feed"',
        cohort.id,
        `"'=HYPERLINK(""x"")"`,
        FILE_B,
        "workspace",
        `${cohort.id}/2026/12/${FILE_B}`,
        "12345678901",
        "ab".repeat(32),
        "",
        '"{""n"": 1, ""name"": ""a,b.csv""}"',
        stored.prev_hash,
        stored.row_hash,
      ].join(",") + "\r\n",
    );
  });

  const field = async (value: string | null) =>
    (await db.execute<{ f: string }>(sql`select depot_csv_field(${value}::text) as f`))[0]?.f;

  test.each([
    ["plain", "plain"],
    ["", ""],
    ["a,b", '"a,b"'],
    ['say "hi"', '"say ""hi"""'],
    ["line1\nline2", '"line1\nline2"'],
    ["line1\r\nline2", '"line1\r\nline2"'],
    ['"', '""""'],
    ["über, ünïcode", '"über, ünïcode"'],
  ])("quotes %j as %j", async (input, output) => {
    expect(await field(input)).toBe(output);
  });

  test.each([
    ["=1+1", "'=1+1"],
    ["+1", "'+1"],
    ["-1", "'-1"],
    ["@SUM(A1)", "'@SUM(A1)"],
    ["\tx", "'\tx"],
    ["\rx", '"\'\rx"'],
    ['=HYPERLINK("http://evil","x")', '"\'=HYPERLINK(""http://evil"",""x"")"'],
    ["=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"],
  ])("neutralises the formula %j", async (input, output) => {
    expect(await field(input)).toBe(output);
  });

  test("leaves formula characters alone when they are not first, and writes NULL as the empty field", async () => {
    expect(await field("a=b")).toBe("a=b");
    expect(await field("user@example.org")).toBe("user@example.org");
    expect(await field(null)).toBe("");
  });
});
