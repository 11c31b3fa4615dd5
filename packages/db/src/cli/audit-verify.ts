import { parseArgs } from "node:util";
import { formatAnchor, parseAnchor, verifyAuditChain } from "../audit/verify";
import { createDb } from "../client";
import { withDatabase } from "./database";

const HELP = `Usage: pnpm audit:verify [--anchor <id>:<hash>] [--json]

Walks the PHI file tracking trail's hash chain in order and reports the first row that was altered, or
that follows a removed row. Exit code 0 when all rows verify, 1 when one does not, 2 on bad arguments.

The chain alone cannot show that its newest rows were removed. Each run prints the trail's tail as an
anchor (<id>:<hash>; the storage service also logs it after every scheduled cleanup): keep anchors outside
the database, and --anchor checks that the row is still there with that hash.`;

const { values } = parseArgs({
  options: { anchor: { type: "string" }, json: { type: "boolean" }, help: { type: "boolean", short: "h" } },
});
if (values.help) {
  console.log(HELP);
  process.exit(0);
}
const anchor = values.anchor === undefined ? undefined : parseAnchor(values.anchor);
if (values.anchor !== undefined && !anchor) {
  console.error("--anchor must be <row id>:<64 hex characters>, as audit:verify prints it");
  process.exit(2);
}
let code = 1;
await withDatabase(async (url) => {
  const { db, close } = createDb(url, { max: 1 });
  try {
    const result = await verifyAuditChain(db, { anchor });
    if (values.json) console.log(JSON.stringify(result, (_k, v) => (typeof v === "bigint" ? v.toString() : v)));
    else if (result.ok) {
      console.log(
        `All ${result.rows} rows verify${anchor ? `, row ${anchor.id} among them with its recorded hash` : ""}.`,
      );
      if (result.tail) console.log(`Anchor to keep outside the database: ${formatAnchor(result.tail)}`);
    } else
      console.log(
        `Row ${result.firstBadId} fails (${result.problem}): ${result.message}. ${result.rows} rows before it verify.`,
      );
    code = result.ok ? 0 : 1;
  } finally {
    await close();
  }
});
process.exit(code);
