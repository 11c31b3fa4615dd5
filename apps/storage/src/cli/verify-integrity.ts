import { runIntegrityCheck } from "../ops/integrity";
import { runCommand } from "./command";

const HELP = `Usage: pnpm verify-integrity [--cohort ID] [--check-hashes] [--json]

Checks that every stored file has its object with the recorded size (and, with --check-hashes, the
recorded sha256, read as a stream), and that every object on the disks has a file row. Reports missing,
corrupt and untracked files; records the run and each problem in the audit trail.
Exit code: 0 when everything is fine, 1 when a problem was found.`;

await runCommand(
  HELP,
  { cohort: { type: "string" }, "check-hashes": { type: "boolean" }, json: { type: "boolean" } },
  async (ctx, values) => {
    const report = await runIntegrityCheck(ctx, {
      cohortId: values.cohort,
      checkHashes: Boolean(values["check-hashes"]),
      audit: ctx.audit,
    });
    if (values.json) {
      console.log(JSON.stringify(report, null, 2));
    } else {
      for (const p of report.problems) {
        const detail = p.expected !== undefined ? ` (expected ${p.expected}, found ${p.actual})` : "";
        console.log(`${p.kind.padEnd(14)} ${p.fileId ? `file ${p.fileId} ` : ""}${p.disk}:${p.key}${detail}`);
      }
      console.log(
        report.ok
          ? `All ${report.checkedFiles} stored files verified${report.checkedHashes ? " (sizes and sha256)" : " (sizes)"}; no untracked objects.`
          : `\n${report.problems.length} problem(s) in ${report.checkedFiles} stored files.`,
      );
    }
    return report.ok ? 0 : 1;
  },
);
