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

const verify = () =>
  run(process.execPath, ["--import", "tsx", script], { env: { ...process.env, DATABASE_URL: database.url } }).then(
    (r) => ({ code: 0, stdout: r.stdout }),
    (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }),
  );

test("pnpm audit:verify says all rows verify, then names an altered row and exits 1", async () => {
  expect(await verify()).toEqual({ code: 0, stdout: "All 4 rows verify.\n" });
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
