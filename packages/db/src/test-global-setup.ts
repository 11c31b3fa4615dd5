import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startEmbeddedPostgres } from "./embedded";
import { freePort, TEST_ADMIN_URL_ENV } from "./testing";

/** Vitest global setup: without DATABASE_URL, tests get a throwaway embedded PostgreSQL server. */
export default async function setup() {
  if (process.env.DATABASE_URL) return;
  const root = mkdtempSync(join(tmpdir(), "depot-test-pg-"));
  chmodSync(root, 0o755); // the postgres system user must reach the data folder when we run as root
  const server = await startEmbeddedPostgres({
    dataDir: join(root, "data"),
    port: await freePort(),
    persistent: false,
  });
  process.env[TEST_ADMIN_URL_ENV] = server.adminUrl;
  return async () => {
    await server.stop();
    rmSync(root, { recursive: true, force: true });
  };
}
