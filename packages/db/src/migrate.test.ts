import postgres from "postgres";
import { afterEach, expect, test } from "vitest";
import { runMigrations } from "./migrate";
import { createTestDatabase, type TestDatabase } from "./testing";

let database: TestDatabase | undefined;
afterEach(async () => {
  await database?.drop();
});

test("migrations apply to an empty database, then again as a no-op", async () => {
  database = await createTestDatabase({ migrate: false });
  await runMigrations(database.url);
  const sql = postgres(database.url, { max: 1, onnotice: () => {} });
  try {
    const tables = await sql<
      { tablename: string }[]
    >`select tablename from pg_tables where schemaname = 'public' order by 1`;
    expect(tables.map((t) => t.tablename)).toEqual([
      "access_tokens",
      "audit_checkpoints",
      "cohort_memberships",
      "cohorts",
      "files",
      "login_attempts",
      "phi_file_tracking",
      "resumable_uploads",
      "scheduled_job_runs",
      "service_replicas",
      "users",
    ]);
    const [before] = await sql`select count(*)::int as n from drizzle.__drizzle_migrations`;
    await runMigrations(database.url);
    const [after] = await sql`select count(*)::int as n from drizzle.__drizzle_migrations`;
    expect(after?.n).toBe(before?.n);
    expect(before?.n).toBeGreaterThanOrEqual(2);
  } finally {
    await sql.end();
  }
});
