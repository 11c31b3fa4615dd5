import { spawn } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import postgres from "postgres";
import { expect, test } from "vitest";
import { isAlive, startEmbeddedPostgres } from "./embedded";
import { freePort } from "./testing";

test("a server left behind by a killed owner is stopped and started cleanly", { timeout: 120_000 }, async () => {
  const root = mkdtempSync(join(tmpdir(), "depot-embedded-"));
  chmodSync(root, 0o755);
  const dataDir = join(root, "data");
  const port = await freePort();
  try {
    // The owner: a process that starts the server, then dies without stopping it (kill -9).
    const owner = spawn(
      process.execPath,
      ["--import", "tsx", fileURLToPath(new URL("./embedded.fixture.ts", import.meta.url)), dataDir, String(port)],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    await new Promise<void>((resolve, reject) => {
      owner.stdout?.on("data", (chunk: Buffer) => chunk.toString().includes("started") && resolve());
      owner.once("exit", (code) => reject(new Error(`fixture exited with ${code}`)));
    });
    const orphan = Number(readFileSync(join(dataDir, "postmaster.pid"), "utf8").split("\n")[0]);
    owner.kill("SIGKILL");
    await new Promise((resolve) => owner.once("exit", resolve));
    expect(isAlive(orphan)).toBe(true);

    const server = await startEmbeddedPostgres({ dataDir, port });
    try {
      expect(server.reused).toBe(false);
      expect(isAlive(orphan)).toBe(false);
      const sql = postgres(server.adminUrl, { max: 1 });
      const [row] = await sql`select 1 as ok`;
      await sql.end();
      expect(row).toEqual({ ok: 1 });
    } finally {
      await server.stop();
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
