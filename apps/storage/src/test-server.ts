import { mkdtempSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createDb } from "@depot/db";
import { createTestDatabase } from "@depot/db/testing";
import { createDisks } from "./drivers";
import type { DisksConfig } from "./drivers/config";
import { parseStorageEnv } from "./env";
import { createStorageServer } from "./server";

export const TEST_API_KEY = "test-key-0123456789abcdef0123456789abcdef";

/** A real storage service on a loopback port with its own fresh database and disk folder. */
export async function startTestStorage(
  options: {
    disks?: DisksConfig;
    env?: Record<string, string>;
    /** Run on another server's database and disk (a restart); stop() then leaves both in place. */
    reuse?: { databaseUrl: string; root: string };
  } = {},
) {
  const database = options.reuse
    ? { url: options.reuse.databaseUrl, drop: async () => {} }
    : await createTestDatabase();
  const root = options.reuse?.root ?? mkdtempSync(join(tmpdir(), "depot-storage-"));
  const env = parseStorageEnv({
    INTERNAL_API_KEY: TEST_API_KEY,
    DATABASE_URL: database.url,
    NAS_WORKSPACE_PATH: root,
    PORT: "0",
    ...(options.disks ? { STORAGE_CONFIG: JSON.stringify({ disks: options.disks }) } : {}),
    ...options.env,
  });
  const { db, sql, close } = createDb(database.url, { max: 5 });
  const disks = createDisks(env.disks, env.defaultDisk);
  const server = createStorageServer({ env, db, disks });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    databaseUrl: database.url,
    root,
    disks,
    env,
    db,
    sql,
    server,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await close();
      await database.drop();
      if (!options.reuse) rmSync(root, { recursive: true, force: true });
    },
  };
}

// biome-ignore lint/suspicious/noExplicitAny: tests read response bodies loosely and assert on them
export type Json = Record<string, any>;
export const json = (res: Response) => res.json() as Promise<Json>;
