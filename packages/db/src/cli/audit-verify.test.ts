import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import postgres from "postgres";
import { afterAll, beforeAll, expect, test } from "vitest";
import { appendAudit } from "../audit/writer";
import { createDb } from "../client";
import { createTestDatabase, type TestDatabase } from "../testing";

const run = promisify(execFile);
const script = fileURLToPath(new URL("./audit-verify.ts", import.meta.url));
let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
  const { db, close } = createDb(database.url, { max: 1 });
  for (let i = 0; i < 4; i++)
    await appendAudit(db, { action: "stream_upload", outcome: "success", serverRole: "web", bytes: i });
  await close();
});
afterAll(async () => {
  await database.drop();
});

const verify = (args: string[] = []) =>
  run(process.execPath, ["--import", "tsx", script, ...args], {
    env: { ...process.env, DATABASE_URL: database.url },
  }).then(
    (r) => ({ code: 0, stdout: r.stdout }),
    (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }),
  );

test("pnpm audit:verify says all rows verify, then names an altered row and exits 1", async () => {
  const first = await verify();
  expect(first.code).toBe(0);
  const [line, anchorLine] = first.stdout.trimEnd().split("\n");
  expect(line).toBe("All 4 rows verify.");
  const anchor = /^Anchor to keep outside the database: (\d+:[0-9a-f]{64})$/.exec(anchorLine ?? "")?.[1];
  expect(anchor).toBeDefined();
  expect(await verify(["--anchor", anchor!])).toMatchObject({ code: 0 });
  expect(await verify(["--anchor", "not-an-anchor"])).toMatchObject({ code: 2 });
  const [tail] = anchor!.split(":");
  expect((await verify(["--anchor", `${tail}:${"0".repeat(64)}`])).stdout).toContain(
    `Row ${tail} fails (anchor_mismatch)`,
  );
  const sql = postgres(database.url, { max: 1, onnotice: () => {} });
  const [third] = await sql<{ id: string }[]>`select id::text from phi_file_tracking order by id offset 2 limit 1`;
  await sql.begin(async (tx) => {
    await tx`alter table phi_file_tracking disable trigger user`;
    await tx`update phi_file_tracking set outcome = 'failure' where id = ${third!.id}`;
    await tx`alter table phi_file_tracking enable trigger user`;
  });
  await sql.end();
  const after = await verify();
  expect(after.code).toBe(1);
  expect(after.stdout).toContain(`Row ${third!.id} fails (altered)`);
});

test("pnpm audit:verify --since-checkpoint reads only the rows after the last checkpoint and needs the key", async () => {
  const other = await createTestDatabase();
  try {
    const { db, close } = createDb(other.url, { max: 1 });
    const entry = (bytes: number) => ({
      action: "stream_upload",
      outcome: "success" as const,
      serverRole: "web" as const,
      bytes,
    });
    for (let i = 0; i < 3; i++) await appendAudit(db, entry(i));
    const since = (env: Record<string, string>) =>
      run(process.execPath, ["--import", "tsx", script, "--since-checkpoint"], {
        env: { PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_URL: other.url, ...env },
      }).then(
        (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
        (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
      );
    const keyed = { INTERNAL_API_KEY: "an internal key for this test" };
    const first = await since(keyed);
    expect(first.code).toBe(0);
    expect(first.stdout).toContain("All 3 rows verify from the first row (no trusted checkpoint)");
    for (let i = 0; i < 2; i++) await appendAudit(db, entry(10 + i));
    const second = await since(keyed);
    expect(second.stdout).toMatch(/All 2 rows verify from the checkpoint of \S+ \(row \d+\)/);
    // Under another key none of the checkpoints verifies: it walks everything again and reports them.
    const otherKey = await since({ AUDIT_CHECKPOINT_KEY: "some other key" });
    expect(otherKey.code).toBe(1);
    expect(otherKey.stdout).toContain("fails (checkpoint_forged): 2 newer checkpoint(s) do not carry a valid MAC");
    expect(otherKey.stdout).toContain("5 rows before it verify from the first row");
    // A row appended after the checkpoint is altered.
    await appendAudit(db, entry(20));
    await appendAudit(db, entry(21));
    await close();
    const sql = postgres(other.url, { max: 1, onnotice: () => {} });
    const [last] = await sql<{ id: string }[]>`select (max(id) - 1)::text as id from phi_file_tracking`;
    await sql.begin(async (tx) => {
      await tx`alter table phi_file_tracking disable trigger user`;
      await tx`update phi_file_tracking set bytes = 7 where id = ${last!.id}`;
      await tx`alter table phi_file_tracking enable trigger user`;
    });
    await sql.end();
    const tampered = await since(keyed);
    expect(tampered.code).toBe(1);
    expect(tampered.stdout).toContain(`Row ${last!.id} fails (altered)`);
    const keyless = await since({});
    expect(keyless.code).toBe(2);
    expect(keyless.stderr).toContain("needs AUDIT_CHECKPOINT_KEY or INTERNAL_API_KEY");
  } finally {
    await other.drop();
  }
});
