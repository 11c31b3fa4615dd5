import { createHash } from "node:crypto";
import { createReadStream, existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { expect } from "vitest";
import type { FaultStack } from "./harness";

async function sha256Of(path: string) {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/**
 * What every fault case ends with: each upload reported complete has its object with the right sha256 and
 * audit rows from both tiers; each upload not reported complete has no object once cleanup has run.
 */
export async function expectNothingLost(stack: FaultStack, reportedComplete: Map<string, string>) {
  await stack.cleanupEverything();
  const rows = await stack.sql<{ id: string; status: string; storage_key: string; sha256: string | null }[]>`
    select id::text, status, storage_key, sha256 from files`;
  for (const row of rows) {
    const path = join(stack.storageRoot, row.storage_key);
    if (row.status === "stored") {
      expect(existsSync(path), `stored file ${row.id} has its object`).toBe(true);
      expect(await sha256Of(path)).toBe(row.sha256);
      const tiers = await stack.sql<{ server_role: string }[]>`
        select distinct server_role from phi_file_tracking
        where file_id = ${row.id} and outcome = 'success' and action in ('stream_upload', 'chunked_upload_completed')`;
      expect(tiers.map((t) => t.server_role).sort(), `audit rows of both tiers for ${row.id}`).toEqual([
        "services",
        "web",
      ]);
    } else {
      expect(existsSync(path), `file ${row.id} (${row.status}) left no object`).toBe(false);
    }
  }
  for (const [id, sha256] of reportedComplete) {
    const row = rows.find((r) => r.id === id);
    expect(row, `reported upload ${id} has a row`).toBeDefined();
    expect(row).toMatchObject({ status: "stored", sha256 });
  }
  const temporaries = existsSync(join(stack.storageRoot, ".tmp")) ? readdirSync(join(stack.storageRoot, ".tmp")) : [];
  expect(temporaries, "no partial files remain").toEqual([]);
}
