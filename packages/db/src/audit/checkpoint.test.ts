import postgres from "postgres";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { createDb } from "../client";
import { createTestDatabase, type TestDatabase } from "../testing";
import { appendAuditBatch, type BulkAuditRow } from "./bulk";
import { checkpointKey, latestAuditCheckpoint, verifySinceCheckpoint } from "./checkpoint";
import { verifyAuditChain } from "./verify";
import { appendAudit } from "./writer";

const key = checkpointKey("the internal api key of this test");

let tdb: TestDatabase;
let conn: ReturnType<typeof createDb>;
let admin: postgres.Sql;
let ids: bigint[];

const entry = (n: number) => ({
  action: "stream_upload",
  outcome: "success" as const,
  serverRole: "services" as const,
  bytes: n,
  metadata: { n },
});

async function append(count: number) {
  for (let i = 0; i < count; i++) ids.push((await appendAudit(conn.db, entry(ids.length))).id);
}

/** What a database superuser can do: switch the append-only triggers off for one statement. */
async function tamper(table: string, statement: (tx: postgres.TransactionSql) => Promise<unknown>) {
  await admin.begin(async (tx) => {
    await tx.unsafe(`alter table ${table} disable trigger user`);
    await statement(tx);
    await tx.unsafe(`alter table ${table} enable trigger user`);
  });
}

beforeEach(async () => {
  tdb = await createTestDatabase();
  conn = createDb(tdb.url, { max: 3 });
  admin = postgres(tdb.url, { max: 1, onnotice: () => {} });
  ids = [];
});
afterEach(async () => {
  await conn.close();
  await admin.end();
  await tdb.drop();
});

const run = async () => {
  const outcome = await verifySinceCheckpoint(conn.db, { key, batchSize: 2 });
  if (!outcome.ran) throw new Error("the verification did not run");
  return outcome;
};

describe("verifySinceCheckpoint", () => {
  test("the first run walks the whole chain; the next reads only the rows appended since", async () => {
    await append(5);
    const first = await run();
    expect(first.startedFrom).toBeNull();
    expect(first.result).toMatchObject({ ok: true, rows: 5 });
    expect(first.checkpoint).toMatchObject({ ok: true, lastId: ids[4], startedAfterId: 0n, rows: 5 });
    await append(3);
    const second = await run();
    expect(second.startedFrom?.id).toBe(first.checkpoint.id);
    expect(second.result).toMatchObject({ ok: true, rows: 3, tail: { id: ids[7] } });
    expect(second.checkpoint).toMatchObject({ startedAfterId: ids[4], lastId: ids[7] });
    // Nothing new: a run reads nothing and keeps the position.
    expect((await run()).checkpoint).toMatchObject({ ok: true, rows: 0, lastId: ids[7] });
    expect((await latestAuditCheckpoint(conn.db))?.lastId).toBe(ids[7]);
  });

  test("tampering after the checkpoint is found, and found again by every later run", async () => {
    await append(4);
    await run();
    await append(4);
    await tamper(
      "phi_file_tracking",
      (tx) => tx`update phi_file_tracking set bytes = 999 where id = ${String(ids[5])}`,
    );
    const found = await run();
    expect(found.result).toMatchObject({ ok: false, firstBadId: ids[5], problem: "altered", rows: 1 });
    // The failed run records the last intact row, so the next run starts before the bad one again.
    expect(found.checkpoint).toMatchObject({ ok: false, lastId: ids[4], firstBadId: ids[5], problem: "altered" });
    await append(1);
    expect((await run()).result).toMatchObject({ ok: false, firstBadId: ids[5] });
  });

  test("a row removed after the checkpoint is found", async () => {
    await append(3);
    await run();
    await append(3);
    await tamper("phi_file_tracking", (tx) => tx`delete from phi_file_tracking where id = ${String(ids[4])}`);
    expect((await run()).result).toMatchObject({ ok: false, firstBadId: ids[5], problem: "broken_link" });
  });

  test("the trail rewritten and rehashed before the checkpoint is found by the checkpoint's pin", async () => {
    await append(4);
    await run();
    // Rows 3 and 4 replaced by well-formed ones: the chain is whole again, but row 4 has another hash now.
    await tamper("phi_file_tracking", (tx) => tx`delete from phi_file_tracking where id >= ${String(ids[2])}`);
    await admin`select setval(pg_get_serial_sequence('phi_file_tracking', 'id'), ${String(ids[1])})`;
    await appendAudit(conn.db, { ...entry(2), action: "rewritten" });
    await appendAudit(conn.db, { ...entry(3), action: "rewritten" });
    expect(await verifyAuditChain(conn.db)).toMatchObject({ ok: true, rows: 4 });
    expect((await run()).result).toMatchObject({ ok: false, firstBadId: ids[3], problem: "checkpoint_mismatch" });
  });

  test("a checkpoint written without the key cannot hide tampering before it", async () => {
    await append(3);
    await run();
    await append(4);
    // Row 5 is edited, then a checkpoint is forged past it, pointing at the real tail with its real hash and with
    // the MAC of a genuine checkpoint copied along.
    await tamper(
      "phi_file_tracking",
      (tx) => tx`update phi_file_tracking set bytes = 999 where id = ${String(ids[4])}`,
    );
    const [tail] = await admin<
      { row_hash: string }[]
    >`select row_hash from phi_file_tracking where id = ${String(ids[6])}`;
    await admin`
      insert into audit_checkpoints (verified_at, started_after_id, last_id, last_hash, rows, ok, duration_ms, mac)
      select now(), last_id, ${String(ids[6])}, ${tail!.row_hash}, 4, true, 1, mac
      from audit_checkpoints order by id desc limit 1`;
    const outcome = await run();
    expect(outcome.untrusted).toBe(1);
    // It started from the genuine checkpoint instead and found the edited row.
    expect(outcome.startedFrom?.lastId).toBe(ids[2]);
    expect(outcome.result).toMatchObject({ ok: false, firstBadId: ids[4], problem: "altered" });
  });

  test("a forged checkpoint over an intact trail is reported as forged", async () => {
    await append(2);
    await admin`
      insert into audit_checkpoints (verified_at, started_after_id, last_id, last_hash, rows, ok, duration_ms, mac)
      values (now(), 0, ${String(ids[1])}, ${"0".repeat(64)}, 2, true, 1, ${"ab".repeat(32)})`;
    const outcome = await run();
    expect(outcome.startedFrom).toBeNull();
    expect(outcome.result).toMatchObject({ ok: false, problem: "checkpoint_forged" });
    // Under another key every checkpoint is untrusted: the run walks the whole chain.
    const other = await verifySinceCheckpoint(conn.db, { key: checkpointKey("another key") });
    expect(other).toMatchObject({ ran: true, startedFrom: null, untrusted: 2 });
  });

  test("an edit before the checkpoint that keeps the stored hashes is left to the full walk", async () => {
    await append(4);
    await run();
    await tamper(
      "phi_file_tracking",
      (tx) => tx`update phi_file_tracking set bytes = 999 where id = ${String(ids[1])}`,
    );
    expect((await run()).result).toMatchObject({ ok: true, rows: 0 });
    expect(await verifyAuditChain(conn.db)).toMatchObject({ ok: false, firstBadId: ids[1], problem: "altered" });
  });

  test("checkpoints are append-only, and one verification runs at a time", async () => {
    await append(1);
    await run();
    await expect(admin`update audit_checkpoints set ok = false`).rejects.toThrow(/append-only: UPDATE refused/);
    await expect(admin`delete from audit_checkpoints`).rejects.toThrow(/append-only: DELETE refused/);
    await expect(admin`truncate audit_checkpoints`).rejects.toThrow(/append-only: TRUNCATE refused/);
    const holder = await admin.reserve();
    try {
      await holder`select pg_advisory_lock(hashtext('depot:audit_verification'))`;
      expect(await verifySinceCheckpoint(conn.db, { key })).toEqual({ ran: false });
    } finally {
      await holder`select pg_advisory_unlock_all()`;
      holder.release();
    }
  });
});

describe("appendAuditBatch", () => {
  test("a bulk run links to the tail and to the rows after it, and the verifier accepts it", async () => {
    await append(2);
    const rows: BulkAuditRow[] = Array.from({ length: 7 }, (_, i) => ({
      occurredAt: new Date(Date.UTC(2021, 0, 1 + i)),
      action: "stream_download",
      outcome: i % 3 ? "success" : "denied",
      serverRole: "web",
      hostname: "import",
      requestId: `bulk-${i}`,
      actorUserId: null,
      actorIp: "10.0.0.1",
      actorUserAgent: "curl/8",
      cohortId: null,
      fileId: null,
      disk: "workspace",
      storageKey: null,
      bytes: i * 1000,
      sha256: null,
      error: i === 3 ? 'said "no"\nthen stopped' : null,
      metadata: { z: 1, a: { c: [1, "é"], b: null } },
    }));
    const last = await appendAuditBatch(conn.db, rows);
    await append(1);
    const result = await verifyAuditChain(conn.db, { batchSize: 3 });
    expect(result).toMatchObject({ ok: true, rows: 10 });
    const stored = await admin<{ id: string; request_id: string }[]>`
      select id::text, request_id from phi_file_tracking where request_id like 'bulk-%' order by id`;
    expect(stored.map((r) => r.request_id)).toEqual(rows.map((r) => r.requestId));
    expect(BigInt(stored.at(-1)!.id)).toBe(last.id);
  });
});
