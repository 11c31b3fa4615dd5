import { execFile } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { buildStorageKey } from "@depot/contract";
import { appendAudit, createFileRecord, ensureCohort } from "@depot/db";
import { afterAll, beforeAll, expect, test } from "vitest";
import { startTestStorage, TEST_API_KEY } from "../test-server";
import type { Audit } from "./cleanup";
import { runIntegrityCheck } from "./integrity";

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL("../../../../", import.meta.url));
let storage: Awaited<ReturnType<typeof startTestStorage>>;
let audit: Audit;
beforeAll(async () => {
  storage = await startTestStorage();
  audit = (entry, db = storage.db) =>
    appendAudit(db, { ...entry, serverRole: "services", requestId: "integrity-test" });
});
afterAll(async () => {
  await storage?.stop();
});

/** A stored file, uploaded through the real API with a files row, as the web tier does it. */
async function storedFile(cohortId: string) {
  const id = randomUUID();
  const file = await createFileRecord(storage.db, {
    id,
    cohortId,
    uploaderId: null,
    originalName: "x.csv",
    storageDisk: "workspace",
    storageKey: buildStorageKey(cohortId, id),
    kind: "submission",
  });
  const res = await fetch(`${storage.url}/internal/storage/upload`, {
    method: "POST",
    headers: { "x-api-key": TEST_API_KEY, "x-depot-file-id": id },
    body: randomBytes(2048),
  });
  expect(res.status).toBe(201);
  return file;
}

test("finds a deleted object, a flipped byte (with hashes) and an untracked object; audits each", async () => {
  const { cohort } = await ensureCohort(storage.db, { name: "Integrity" });
  const healthy = await Promise.all([storedFile(cohort.id), storedFile(cohort.id)]);
  expect(await runIntegrityCheck(storage, { checkHashes: true, audit })).toMatchObject({
    ok: true,
    checkedFiles: 2,
    problems: [],
  });

  const missing = await storedFile(cohort.id);
  rmSync(join(storage.root, missing.storageKey));
  const flipped = await storedFile(cohort.id);
  const path = join(storage.root, flipped.storageKey);
  const bytes = readFileSync(path);
  bytes[100] = (bytes[100] ?? 0) ^ 0xff;
  writeFileSync(path, bytes);
  const untrackedKey = `${cohort.id}/2026/01/stray-object`;
  await fetch(`${storage.url}/internal/storage/upload?key=${untrackedKey}`, {
    method: "POST",
    headers: { "x-api-key": TEST_API_KEY },
    body: "stray",
  });

  const sizesOnly = await runIntegrityCheck(storage, { checkHashes: false, audit });
  expect(sizesOnly.problems.map((p) => p.kind).sort()).toEqual(["missing", "untracked"]);

  const withHashes = await runIntegrityCheck(storage, { checkHashes: true, audit });
  expect(withHashes.ok).toBe(false);
  expect(withHashes.problems).toEqual(
    expect.arrayContaining([
      expect.objectContaining({ kind: "missing", fileId: missing.id }),
      expect.objectContaining({ kind: "hash_mismatch", fileId: flipped.id }),
      expect.objectContaining({ kind: "untracked", key: untrackedKey }),
    ]),
  );
  expect(withHashes.problems).toHaveLength(3);
  expect(withHashes.problems.some((p) => healthy.some((h) => h.id === p.fileId))).toBe(false);

  const rows = await storage.sql<{ error: string }[]>`
    select error from phi_file_tracking where action = 'integrity_problem' and request_id = 'integrity-test' order by id desc limit 3`;
  expect(rows.map((r) => r.error).sort()).toEqual(["hash_mismatch", "missing", "untracked"]);

  // The command says the same and exits non-zero.
  const cli = await run(
    process.execPath,
    ["--import", "tsx", "apps/storage/src/cli/verify-integrity.ts", "--check-hashes", "--json"],
    {
      cwd: repoRoot,
      env: { ...process.env, DATABASE_URL: storage.databaseUrl, NAS_WORKSPACE_PATH: storage.root },
    },
  ).catch((error: { code: number; stdout: string }) => error);
  expect((cli as { code?: number }).code).toBe(1);
  expect(JSON.parse((cli as { stdout: string }).stdout).problems).toHaveLength(3);
});
