import { runCleanup } from "../ops/cleanup";
import { runCommand } from "./command";

const HELP = `Usage: pnpm cleanup [--hours 24] [--dry-run] [--json]

Removes, on every configured disk:
  (a) precheck files past their expiry,
  (b) resumable uploads with no progress for more than --hours,
  (c) objects no file row knows, and partial files of dead writes, older than --hours,
  (d) on S3 disks, multipart uploads begun more than --hours ago that no live upload owns (aborted).
Submission files, anything younger than --hours and uploads in progress are never touched.
Every removal is audited (cleanup_deleted). --dry-run lists what would go and removes nothing.
Exit code: 0 when everything found was removed (or nothing was found), 1 when a removal failed,
3 when another cleanup was already running.`;

await runCommand(
  HELP,
  { hours: { type: "string", default: "24" }, "dry-run": { type: "boolean" }, json: { type: "boolean" } },
  async (ctx, values) => {
    const hours = Number(values.hours);
    if (!Number.isFinite(hours) || hours < 0) {
      console.error("--hours must be a number of hours, 0 or more");
      return 2;
    }
    const report = await runCleanup(ctx, { hours, dryRun: Boolean(values["dry-run"]), audit: ctx.audit });
    if (values.json) {
      console.log(JSON.stringify(report, null, 2));
    } else if (!report.ran) {
      console.log("Another cleanup is running; nothing done.");
    } else {
      const verb = report.dryRun ? "would remove" : "removed";
      for (const item of report.items) {
        const what = item.result === "failed" ? `FAILED (${item.error})` : verb;
        console.log(
          `${what.padEnd(14)} ${item.category.padEnd(20)} ${item.disk}:${item.key}  ${item.bytes} B, ${item.ageHours} h old`,
        );
      }
      console.log(
        `\nfound ${report.found} · cleaned ${report.cleaned} · failed ${report.failed}${report.dryRun ? " (dry run)" : ""}`,
      );
    }
    return !report.ran ? 3 : report.failed > 0 ? 1 : 0;
  },
);
