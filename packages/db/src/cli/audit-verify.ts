import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { checkpointKey, checkpointKeyFromEnv, verifySinceCheckpoint } from "../audit/checkpoint";
import { type ChainVerification, formatAnchor, parseAnchor, verifyAuditChain } from "../audit/verify";
import { createDb } from "../client";
import { dataDir, withDatabase } from "./database";

const HELP = `Usage: pnpm audit:verify [--anchor <id>:<hash>] [--since-checkpoint] [--json]

Walks the PHI file tracking trail's hash chain in order and reports the first row that was altered, or
that follows a removed row. Exit code 0 when all rows verify, 1 when one does not, 2 on bad arguments.

The chain alone cannot show that its newest rows were removed. Each run prints the trail's tail as an
anchor (<id>:<hash>; the storage service also logs it after every scheduled cleanup): keep anchors outside
the database, and --anchor checks that the row is still there with that hash.

--since-checkpoint verifies only the rows after the newest trusted checkpoint (the storage service stores
one after every scheduled verification), then stores a new one. A checkpoint is trusted when its MAC
verifies with the key from AUDIT_CHECKPOINT_KEY, else INTERNAL_API_KEY (else the one \`pnpm start\` keeps
in .data/secrets.json). Rows before the checkpoint are not read again: run the full walk now and then.`;

const { values } = parseArgs({
  options: {
    anchor: { type: "string" },
    "since-checkpoint": { type: "boolean" },
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  },
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
const key = values["since-checkpoint"] ? (checkpointKeyFromEnv() ?? developmentKey()) : undefined;
if (values["since-checkpoint"] && !key) {
  console.error("--since-checkpoint needs AUDIT_CHECKPOINT_KEY or INTERNAL_API_KEY: checkpoints are signed with it");
  process.exit(2);
}
if (values["since-checkpoint"] && values.anchor !== undefined) {
  console.error("--anchor goes with the full walk: run them one after the other");
  process.exit(2);
}

/** The key `pnpm start` generated for a development stack, if there is one. */
function developmentKey(): Buffer | undefined {
  const file = join(dataDir, "secrets.json");
  if (!existsSync(file)) return undefined;
  const { apiKey } = JSON.parse(readFileSync(file, "utf8")) as { apiKey?: string };
  return apiKey ? checkpointKey(apiKey) : undefined;
}

async function run(url: string): Promise<{ result: ChainVerification; note: string } | null> {
  const { db, close } = createDb(url, { max: 2 });
  try {
    if (!key) return { result: await verifyAuditChain(db, { anchor }), note: "" };
    const run = await verifySinceCheckpoint(db, { key });
    if (!run.ran) return null;
    const from = run.startedFrom
      ? `from the checkpoint of ${run.startedFrom.verifiedAt.toISOString()} (row ${run.startedFrom.lastId})`
      : "from the first row (no trusted checkpoint)";
    return { result: run.result, note: ` ${from}; checkpoint ${run.checkpoint.id} stored` };
  } finally {
    await close();
  }
}

let code = 1;
await withDatabase(async (url) => {
  const outcome = await run(url);
  if (!outcome) {
    console.error("another verification is running; try again when it has finished");
    code = 3;
    return;
  }
  const { result, note } = outcome;
  if (values.json) console.log(JSON.stringify(result, (_k, v) => (typeof v === "bigint" ? v.toString() : v)));
  else if (result.ok) {
    console.log(
      `All ${result.rows} rows verify${anchor ? `, row ${anchor.id} among them with its recorded hash` : ""}${note}.`,
    );
    if (result.tail) console.log(`Anchor to keep outside the database: ${formatAnchor(result.tail)}`);
  } else
    console.log(
      `Row ${result.firstBadId} fails (${result.problem}): ${result.message}. ${result.rows} rows before it verify${note}.`,
    );
  code = result.ok ? 0 : 1;
});
process.exit(code);
