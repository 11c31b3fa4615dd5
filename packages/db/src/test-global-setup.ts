import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startEmbeddedPostgres } from "./embedded";
import { TEST_ADMIN_URL_ENV } from "./testing";

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
