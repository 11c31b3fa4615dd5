import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { type ParseArgsConfig, parseArgs } from "node:util";
import { appendAudit, createDb, type Database } from "@depot/db";
import { dataDir, withDatabase } from "@depot/db/cli-database";
import { createDisks, type Disks } from "../drivers";
import { EnvError, parseDiskSettings } from "../env";
import type { Audit } from "../ops/cleanup";

export interface CommandContext {
  db: Database;
  disks: Disks;
  defaultDisk: string;
  diskConfig: ReturnType<typeof parseDiskSettings>["disks"];
  audit: Audit;
}

type Options = NonNullable<ParseArgsConfig["options"]>;

/**
 * Runs a storage-side command: parses its flags (`--help` prints `help`; bad flags exit 2), connects to the
 * database (DATABASE_URL, else the embedded one under .data/) and the configured disks, and exits with the
 * code `run` returns. Audit rows carry server role services and one request id per run.
 */
export async function runCommand<O extends Options>(
  help: string,
  options: O,
  run: (ctx: CommandContext, values: ReturnType<typeof parseArgs<{ options: O }>>["values"]) => Promise<number>,
): Promise<never> {
  let values: ReturnType<typeof parseArgs<{ options: O }>>["values"];
  try {
    values = parseArgs({ options: { ...options, help: { type: "boolean", short: "h" } }, strict: true })
      .values as typeof values;
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${help}`);
    process.exit(2);
  }
  if ((values as { help?: boolean }).help) {
    console.log(help);
    process.exit(0);
  }
  let code = 1;
  try {
    const { disks, defaultDisk } = parseDiskSettings(process.env, join(dataDir, "storage"));
    await withDatabase(async (url) => {
      const { db, close } = createDb(url, { max: 4 });
      const requestId = `cli-${randomUUID()}`;
      const audit: Audit = (entry, on = db) =>
        appendAudit(on, {
          ...entry,
          serverRole: "services",
          requestId,
          actor: { userAgent: `depot-cli ${process.argv[1]?.split("/").pop()}` },
        });
      try {
        code = await run({ db, disks: createDisks(disks, defaultDisk), defaultDisk, diskConfig: disks, audit }, values);
      } finally {
        await close();
      }
    });
  } catch (error) {
    console.error(error instanceof EnvError ? error.message : `failed: ${(error as Error).message}`);
    code = 1;
  }
  process.exit(code);
}
