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
