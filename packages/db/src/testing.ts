import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import postgres from "postgres";
import { withDatabaseName } from "./embedded";
import { runMigrations } from "./migrate";

/** A loopback port free at the time of asking, for a server a test or benchmark starts. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

/** Set by test-global-setup.ts: the embedded server's admin URL when DATABASE_URL is not given. */
export const TEST_ADMIN_URL_ENV = "DEPOT_TEST_ADMIN_URL";

function adminUrl(): string {
  const url = process.env.DATABASE_URL ?? process.env[TEST_ADMIN_URL_ENV];
  if (!url) throw new Error("tests need DATABASE_URL or the embedded server from test-global-setup.ts");
  return url;
}

export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

/** A fresh, migrated database on the test server; drop() removes it (and any connections left to it). */
export async function createTestDatabase(options: { migrate?: boolean } = {}): Promise<TestDatabase> {
  const name = `depot_test_${randomBytes(6).toString("hex")}`;
  const admin = withDatabaseName(adminUrl(), "postgres");
  const sql = postgres(admin, { max: 1, onnotice: () => {} });
  try {
    await sql.unsafe(`create database ${name}`);
  } finally {
    await sql.end({ timeout: 5 });
  }
  const url = withDatabaseName(admin, name);
  if (options.migrate ?? true) await runMigrations(url);
  return {
    url,
    drop: async () => {
      const sql = postgres(admin, { max: 1, onnotice: () => {} });
      try {
        await sql.unsafe(`drop database if exists ${name} with (force)`);
      } finally {
        await sql.end({ timeout: 5 });
      }
    },
  };
}
