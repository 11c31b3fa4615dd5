import { parseArgs } from "node:util";
import { verifyAuditChain } from "../audit/verify";
import { createDb } from "../client";
import { withDatabase } from "./database";

const HELP = `Usage: pnpm audit:verify [--json]

Walks the PHI file tracking trail's hash chain in order and reports the first row that was altered, or
that follows a removed row. Exit code 0 when all rows verify, 1 when one does not.`;

const { values } = parseArgs({ options: { json: { type: "boolean" }, help: { type: "boolean", short: "h" } } });
if (values.help) {
  console.log(HELP);
  process.exit(0);
}
let code = 1;
await withDatabase(async (url) => {
  const { db, close } = createDb(url, { max: 1 });
  try {
    const result = await verifyAuditChain(db);
    if (values.json) console.log(JSON.stringify(result, (_k, v) => (typeof v === "bigint" ? v.toString() : v)));
    else if (result.ok) console.log(`All ${result.rows} rows verify.`);
    else
      console.log(
        `Row ${result.firstBadId} fails (${result.problem}): ${result.message}. ${result.rows} rows before it verify.`,
      );
    code = result.ok ? 0 : 1;
  } finally {
    await close();
  }
});
process.exit(code);
