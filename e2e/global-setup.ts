import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startStack } from "../scripts/stack";
import { createPeople } from "./people";
import { E2E_PORTS } from "./ports";

/**
 * Starts Depot as `pnpm start` does (same starter, both servers as separate processes) on a fresh
 * database: a new database on DATABASE_URL's server, or a new embedded server in a temporary folder.
 */
export default async function globalSetup() {
  const dataDir = mkdtempSync(join(tmpdir(), "depot-e2e-"));
  chmodSync(dataDir, 0o755);
  // The browser stands in for a TLS proxy on this host: what it forwards is what production's proxy would add.
  process.env.TRUSTED_PROXIES = "127.0.0.1,::1";
  const logFile = join(dataDir, "servers.log");
  const lines: string[] = [];
  const stack = await startStack({
    dataDir,
    database: "fresh",
    ports: { web: E2E_PORTS.web, storage: E2E_PORTS.services, postgres: E2E_PORTS.postgres },
    log: (line) => {
      lines.push(line);
      if (process.env.E2E_VERBOSE) console.log(line);
    },
  });
  await createPeople(stack.databaseUrl);
  process.env.E2E_STORAGE_ROOT = stack.storageRoot ?? "";
  process.env.E2E_DATABASE_URL = stack.databaseUrl;
  process.env.E2E_API_KEY = stack.apiKey;
  process.env.E2E_WEB_PID = String(stack.web[0]?.pid());
  process.env.E2E_SERVICES_URL = stack.servicesUrl;
  return async () => {
    await stack.stop();
    writeFileSync(logFile, lines.join("\n"));
    if (!process.env.E2E_KEEP) rmSync(dataDir, { recursive: true, force: true });
  };
}
