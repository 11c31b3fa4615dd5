import { createHash } from "node:crypto";
import { type Database, storedFilesPage } from "@depot/db";
import type { Disks } from "../drivers";
import { type Audit, untrackedObjects } from "./cleanup";

export type IntegrityProblemKind = "missing" | "size_mismatch" | "hash_mismatch" | "untracked";

export interface IntegrityProblem {
  kind: IntegrityProblemKind;
  disk: string;
  key: string;
  fileId?: string;
  expected?: string | number | null;
  actual?: string | number | null;
}

export interface IntegrityReport {
  checkedFiles: number;
  checkedHashes: boolean;
  cohortId: string | null;
  problems: IntegrityProblem[];
  ok: boolean;
}

async function sha256Of(stream: NodeJS.ReadableStream): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/**
 * Every stored file has its object with the recorded size (and, with checkHashes, the recorded sha256,
 * read as a stream); every object on the disks has a file row. Each problem and the run are audited.
 */
export async function runIntegrityCheck(
  ctx: { db: Database; disks: Disks },
  options: { cohortId?: string; checkHashes: boolean; audit: Audit },
): Promise<IntegrityReport> {
  const problems: IntegrityProblem[] = [];
  let checkedFiles = 0;
  let afterId: string | undefined;
  for (;;) {
    const page = await storedFilesPage(ctx.db, { afterId, cohortId: options.cohortId, limit: 500 });
    for (const file of page) {
      checkedFiles++;
      const { driver, name } = ctx.disks.get(file.storageDisk);
      const base = { disk: name, key: file.storageKey, fileId: file.id };
      const info = await driver.stat(file.storageKey);
      if (!info) {
        problems.push({ ...base, kind: "missing" });
      } else if (info.size !== file.size) {
        problems.push({ ...base, kind: "size_mismatch", expected: file.size, actual: info.size });
      } else if (options.checkHashes) {
        const actual = await sha256Of(await driver.read(file.storageKey));
        if (actual !== file.sha256) problems.push({ ...base, kind: "hash_mismatch", expected: file.sha256, actual });
      }
    }
    if (page.length < 500) break;
    afterId = page.at(-1)?.id;
  }
  for (const name of ctx.disks.names()) {
    const { driver } = ctx.disks.get(name);
    for (const object of await untrackedObjects(ctx.db, name, driver)) {
      if (options.cohortId && !object.key.startsWith(`${options.cohortId}/`)) continue;
      problems.push({ kind: "untracked", disk: name, key: object.key, actual: object.size });
    }
  }
  for (const problem of problems) {
    await options.audit({
      action: "integrity_problem",
      outcome: "failure",
      fileId: problem.fileId,
      disk: problem.disk,
      storageKey: problem.key,
      error: problem.kind,
      metadata: { expected: problem.expected ?? null, actual: problem.actual ?? null },
    });
  }
  const report = {
    checkedFiles,
    checkedHashes: options.checkHashes,
    cohortId: options.cohortId ?? null,
    problems,
    ok: problems.length === 0,
  };
  await options.audit({
    action: "integrity_check",
    outcome: report.ok ? "success" : "failure",
    cohortId: options.cohortId,
    metadata: { checkedFiles, checkHashes: options.checkHashes, problems: problems.length },
  });
  return report;
}
