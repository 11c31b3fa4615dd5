import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureDatabase, startEmbeddedPostgres } from "../embedded";

export const repoRoot = fileURLToPath(new URL("../../../../", import.meta.url));
export const dataDir = join(repoRoot, ".data");
export const EMBEDDED_PORT = Number(process.env.DEPOT_EMBEDDED_PG_PORT ?? 54329);

/**
 * Runs `fn` with a database URL: DATABASE_URL when set, otherwise Depot's embedded PostgreSQL
 * under `.data/` (reused if `pnpm start` is running it, started and stopped around `fn` otherwise).
 */
export async function withDatabase(fn: (url: string) => Promise<void>): Promise<void> {
  if (process.env.DATABASE_URL) return fn(process.env.DATABASE_URL);
  const server = await startEmbeddedPostgres({
    dataDir: join(dataDir, "postgres"),
    port: EMBEDDED_PORT,
    log: console.log,
  });
  try {
    await fn(await ensureDatabase(server.adminUrl, "depot"));
  } finally {
    await server.stop();
  }
}
