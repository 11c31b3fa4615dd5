import { sql as sqlText } from "drizzle-orm";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createDb } from "../client";
import { createTestDatabase, type TestDatabase } from "../testing";
import { formatAnchor, parseAnchor, verifyAuditChain } from "./verify";
import { appendAudit } from "./writer";

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database.drop();
});

const entry = (n: number) => ({
  action: "stream_upload",
  outcome: "success" as const,
  serverRole: "services" as const,
  requestId: `req-${n}`,
  bytes: n,
  // Text the database hashes as UTF-8 exactly as Node does: accents, CJK, an astral emoji, quotes, a newline.
  error: n % 3 === 0 ? 'said "no"\nthen stopped' : null,
  metadata: { n, nested: { b: 1, a: [1, "x"] }, name: "résumé — 日本 😀.csv", empty: null },
});

describe("phi_file_tracking", () => {
  test("refuses UPDATE, DELETE and TRUNCATE", async () => {
    const { db, sql, close } = createDb(database.url, { max: 1 });
    try {
      await appendAudit(db, entry(1));
      await expect(sql`update phi_file_tracking set action = 'x'`).rejects.toThrow(/append-only: UPDATE refused/);
      await expect(sql`delete from phi_file_tracking`).rejects.toThrow(/append-only: DELETE refused/);
      await expect(sql`truncate phi_file_tracking`).rejects.toThrow(/append-only: TRUNCATE refused/);
      const [row] = await sql`select count(*)::int as n, min(action) as action from phi_file_tracking`;
      expect(row).toEqual({ n: 1, action: "stream_upload" });
    } finally {
      await close();
    }
  });

  test("50 concurrent appends from two connections leave one unbroken chain", async () => {
    const a = createDb(database.url, { max: 5 });
    const b = createDb(database.url, { max: 5 });
    try {
      const [{ n: before } = { n: 0 }] = await a.sql<{ n: number }[]>`select count(*)::int as n from phi_file_tracking`;
      await Promise.all(Array.from({ length: 50 }, (_, i) => appendAudit(i % 2 ? a.db : b.db, entry(i))));
      const result = await verifyAuditChain(a.db);
      expect(result).toMatchObject({ ok: true, rows: before + 50 });
      const links = await a.sql`select count(distinct prev_hash)::int as n from phi_file_tracking`;
      expect(links[0]?.n).toBe(before + 50);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});

describe("verifyAuditChain on tampered trails", () => {
  async function trailOf(count: number) {
    const tdb = await createTestDatabase();
    const { db, close } = createDb(tdb.url, { max: 1 });
    const ids: bigint[] = [];
    for (let i = 0; i < count; i++) ids.push((await appendAudit(db, entry(i))).id);
    await close();
    // A superuser can switch the triggers off; the chain must still give the tampering away.
    const sql = postgres(tdb.url, { max: 1, onnotice: () => {} });
    return { tdb, ids, sql };
  }

  test("an edited row is named", async () => {
    const { tdb, ids, sql } = await trailOf(5);
    try {
      await sql.begin(async (tx) => {
        await tx`alter table phi_file_tracking disable trigger user`;
        await tx`update phi_file_tracking set bytes = 999 where id = ${ids[2]!.toString()}`;
        await tx`alter table phi_file_tracking enable trigger user`;
      });
      const { db, close } = createDb(tdb.url, { max: 1 });
      const result = await verifyAuditChain(db, { batchSize: 2 });
      await close();
      expect(result).toMatchObject({ ok: false, firstBadId: ids[2], problem: "altered", rows: 2 });
    } finally {
      await sql.end();
      await tdb.drop();
    }
  });

  test("a deleted middle row is named by the row after it", async () => {
    const { tdb, ids, sql } = await trailOf(5);
    try {
      await sql.begin(async (tx) => {
        await tx`alter table phi_file_tracking disable trigger user`;
        await tx`delete from phi_file_tracking where id = ${ids[2]!.toString()}`;
        await tx`alter table phi_file_tracking enable trigger user`;
      });
      const { db, close } = createDb(tdb.url, { max: 1 });
      const result = await verifyAuditChain(db);
      await close();
      expect(result).toMatchObject({ ok: false, firstBadId: ids[3], problem: "broken_link" });
    } finally {
      await sql.end();
      await tdb.drop();
    }
  });

  test("a change to any hashed column is named, each in a fresh copy of the trail", async () => {
    const edits = [
      "occurred_at = occurred_at + interval '1 millisecond'",
      "action = 'stream_download'",
      "outcome = 'failure'",
      "server_role = 'web'",
      "hostname = 'elsewhere'",
      "request_id = null",
      "actor_user_id = 'cccccccc-0000-4000-8000-000000000003'",
      "actor_ip = '198.51.100.1'",
      "actor_user_agent = 'curl'",
      "cohort_id = 'dddddddd-0000-4000-8000-000000000004'",
      "file_id = 'eeeeeeee-0000-4000-8000-000000000005'",
      "disk = 'archive'",
      "storage_key = 'moved'",
      "bytes = bytes + 1",
      "sha256 = repeat('f', 64)",
      "error = 'said \"no\"\nthen stopped!'",
      "metadata = metadata || '{\"n\": 0}'",
      "metadata = jsonb_set(metadata, '{nested,a,1}', '\"y\"')",
    ];
    const { tdb, ids, sql } = await trailOf(4);
    try {
      const { db, close } = createDb(tdb.url, { max: 1 });
      try {
        for (const edit of edits) {
          // Each edit is rolled back after the walk, so the next one starts from the intact trail.
          let found: unknown;
          await db
            .transaction(async (tx) => {
              await tx.execute(sqlText.raw("alter table phi_file_tracking disable trigger user"));
              await tx.execute(sqlText.raw(`update phi_file_tracking set ${edit} where id = ${ids[3]!.toString()}`));
              found = await verifyAuditChain(tx, { batchSize: 2 });
              tx.rollback();
            })
            .catch(() => {});
          expect(found, edit).toMatchObject({ ok: false, firstBadId: ids[3], problem: "altered", rows: 3 });
        }
        expect(await verifyAuditChain(db)).toMatchObject({ ok: true, rows: 4 });
      } finally {
        await close();
      }
    } finally {
      await sql.end();
      await tdb.drop();
    }
  });

  test("rows holding every awkward value verify: PostgreSQL writes the scalar fields as JSON.stringify did", async () => {
    const tdb = await createTestDatabase();
    const { db, close } = createDb(tdb.url, { max: 1 });
    const awkward = [
      'quote " backslash \\ slash / tab \t newline \n return \r',
      "controls \u0000\u0001\u0008\u000b\u000c\u001f\u007f end",
      "unicode é 漢字 😀 \u2028 \u2029 \ufeff",
      "",
      "=formula,comma",
    ].map((text) => text.replaceAll("\u0000", "nul"));
    try {
      for (const [i, text] of awkward.entries()) {
        await appendAudit(db, {
          action: text,
          outcome: "failure",
          serverRole: "services",
          requestId: text,
          actor: { userId: "aaaaaaaa-0000-4000-8000-000000000001", ip: text, userAgent: text },
          cohortId: "bbbbbbbb-0000-4000-8000-000000000002",
          fileId: null,
          disk: text,
          storageKey: text,
          bytes: i === 0 ? Number.MAX_SAFE_INTEGER : -i,
          sha256: text,
          error: text,
          metadata: { [text]: text, list: [text, 1.5, null] },
        });
      }
      await appendAudit(db, { action: "plain", outcome: "success", serverRole: "cli" });
      expect(await verifyAuditChain(db, { batchSize: 2 })).toMatchObject({ ok: true, rows: awkward.length + 1 });
    } finally {
      await close();
      await tdb.drop();
    }
  });

  test("an untouched trail verifies", async () => {
    const { tdb, sql } = await trailOf(3);
    await sql.end();
    const { db, close } = createDb(tdb.url, { max: 1 });
    expect(await verifyAuditChain(db)).toMatchObject({ ok: true, rows: 3 });
    await close();
    await tdb.drop();
  });

  test("an anchor recorded outside the database catches the newest rows removed, even with rows appended since", async () => {
    const { tdb, ids, sql } = await trailOf(5);
    try {
      const { db, close } = createDb(tdb.url, { max: 1 });
      const before = await verifyAuditChain(db);
      if (!before.ok || !before.tail) throw new Error("the fresh trail should verify");
      expect(before.tail.id).toBe(ids[4]);
      const anchor = parseAnchor(formatAnchor(before.tail));
      expect(anchor).toEqual(before.tail);
      await sql.begin(async (tx) => {
        await tx`alter table phi_file_tracking disable trigger user`;
        await tx`delete from phi_file_tracking where id >= ${ids[3]!.toString()}`;
        await tx`alter table phi_file_tracking enable trigger user`;
      });
      await appendAudit(db, entry(99));
      // The chain alone is whole again: the new row links to what is now the tail.
      expect(await verifyAuditChain(db)).toMatchObject({ ok: true, rows: 4 });
      expect(await verifyAuditChain(db, { anchor })).toMatchObject({
        ok: false,
        firstBadId: ids[4],
        problem: "anchor_missing",
      });
      await close();
    } finally {
      await sql.end();
      await tdb.drop();
    }
  });

  test("an anchor catches a trail rewritten and rehashed from before it", async () => {
    const { tdb, ids, sql } = await trailOf(4);
    try {
      const { db, close } = createDb(tdb.url, { max: 1 });
      const before = await verifyAuditChain(db);
      if (!before.ok || !before.tail) throw new Error("the fresh trail should verify");
      // Someone who knows the hashing deletes rows 3 and 4 and writes their own in their place.
      await sql.begin(async (tx) => {
        await tx`alter table phi_file_tracking disable trigger user`;
        await tx`delete from phi_file_tracking where id >= ${ids[2]!.toString()}`;
        await tx`alter table phi_file_tracking enable trigger user`;
      });
      await sql`select setval(pg_get_serial_sequence('phi_file_tracking', 'id'), ${ids[1]!.toString()})`;
      await appendAudit(db, { ...entry(2), action: "rewritten" });
      await appendAudit(db, { ...entry(3), action: "rewritten" });
      expect(await verifyAuditChain(db)).toMatchObject({ ok: true, rows: 4 });
      expect(await verifyAuditChain(db, { anchor: before.tail })).toMatchObject({
        ok: false,
        firstBadId: ids[3],
        problem: "anchor_mismatch",
      });
      await close();
    } finally {
      await sql.end();
      await tdb.drop();
    }
  });

  test("anchors are read back only in their own form", () => {
    expect(parseAnchor(`12:${"a".repeat(64)}`)).toEqual({ id: 12n, rowHash: "a".repeat(64) });
    for (const bad of ["12", `x:${"a".repeat(64)}`, `12:${"a".repeat(63)}`, `12:${"A".repeat(64)}`])
      expect(parseAnchor(bad)).toBeUndefined();
  });
});
