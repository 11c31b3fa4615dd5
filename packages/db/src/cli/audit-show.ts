import { parseArgs } from "node:util";
import { createDb } from "../client";
import { searchAudit } from "../queries/audit";
import { findUserByEmail } from "../queries/users";
import { withDatabase } from "./database";

const HELP = `Usage: pnpm audit:show [--file ID] [--cohort ID] [--user EMAIL|ID] [--action NAME] [--days 7] [--limit 100] [--json]

The PHI file tracking trail, newest first, grouped by file: who did what, from where, with which outcome.`;

const { values } = parseArgs({
  options: {
    file: { type: "string" },
    cohort: { type: "string" },
    user: { type: "string" },
    action: { type: "string" },
    days: { type: "string", default: "7" },
    limit: { type: "string", default: "100" },
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  },
});
if (values.help) {
  console.log(HELP);
  process.exit(0);
}
const days = Number(values.days);
const limit = Number(values.limit);
if (!(days > 0) || !Number.isInteger(limit) || limit < 1 || limit > 10_000) {
  console.error(`--days must be positive and --limit 1 to 10000\n\n${HELP}`);
  process.exit(2);
}

await withDatabase(async (url) => {
  const { db, close } = createDb(url, { max: 1 });
  try {
    const userId = values.user?.includes("@") ? (await findUserByEmail(db, values.user))?.id : values.user;
    if (values.user && !userId) {
      console.error(`no user ${values.user}`);
      process.exitCode = 1;
      return;
    }
    const { rows, total, totalExact } = await searchAudit(db, {
      fileId: values.file,
      cohortId: values.cohort,
      userId,
      action: values.action,
      from: new Date(Date.now() - days * 24 * 3600_000),
      limit,
    });
    if (values.json) {
      console.log(JSON.stringify(rows, (_k, v) => (typeof v === "bigint" ? v.toString() : v), 2));
      return;
    }
    const byFile = new Map<string, typeof rows>();
    for (const row of rows) {
      const group = row.fileId ?? "(no file)";
      byFile.set(group, [...(byFile.get(group) ?? []), row]);
    }
    for (const [file, group] of byFile) {
      const first = group[0];
      console.log(
        `\n== file ${file}${first?.cohortName ? ` · cohort ${first.cohortName}` : ""}${first?.storageKey ? ` · ${first.disk}:${first.storageKey}` : ""}`,
      );
      for (const r of group) {
        const when = r.occurredAt.toISOString().replace("T", " ").slice(0, 19);
        const who = r.actorEmail ?? r.actorUserId ?? "-";
        const bytes = r.bytes === null ? "" : ` ${r.bytes} B`;
        console.log(
          `  ${when}  ${r.serverRole.padEnd(8)} ${r.action.padEnd(26)} ${r.outcome.padEnd(7)} ${who} @ ${r.actorIp ?? "-"}${bytes}${r.error ? ` error=${r.error}` : ""}  req=${r.requestId ?? "-"}`,
        );
      }
    }
    console.log(`\n${rows.length} of ${total}${totalExact ? "" : "+"} matching rows in the last ${days} day(s).`);
  } finally {
    await close();
  }
});
