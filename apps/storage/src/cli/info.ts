import { join } from "node:path";
import { parseArgs } from "node:util";
import { defaultDiskName } from "@depot/contract";
import { createDb, listReplicas, type ReplicaStatus } from "@depot/db";
import { dataDir } from "@depot/db/cli-database";
import { parseDiskSettings } from "../env";

const HELP = `Usage: pnpm storage:info [--json]

What this process would be: its SERVER_ROLE, the driver of each configured disk, the default disk, and
the services URL the web tier calls; with DATABASE_URL set, every storage replica and web server by its
heartbeat (alive or stale). Never prints keys or secrets.`;

const { values } = parseArgs({ options: { json: { type: "boolean" }, help: { type: "boolean", short: "h" } } });
if (values.help) {
  console.log(HELP);
  process.exit(0);
}
const env = process.env;
let disks: Record<string, { driver: string; where: string }> = {};
let problem: string | null = null;
try {
  // Without configuration, the disk `pnpm start` uses.
  const config = parseDiskSettings(env, join(dataDir, "storage")).disks;
  disks = Object.fromEntries(
    Object.entries(config).map(([name, d]) => [
      name,
      {
        driver: d.driver,
        where: d.driver === "local" ? d.root : `s3://${d.bucket}/${d.prefix} at ${d.endpoint ?? "AWS"}`,
      },
    ]),
  );
} catch (error) {
  problem = (error as Error).message;
}
/** The heartbeats in DATABASE_URL's database, or why not (info does not start the embedded server). */
async function replicas(): Promise<ReplicaStatus[] | string> {
  if (!env.DATABASE_URL) return "DATABASE_URL not set";
  const { db, close } = createDb(env.DATABASE_URL, { max: 1 });
  try {
    return await listReplicas(db);
  } catch (error) {
    // drizzle wraps the driver's error; its code (ECONNREFUSED, 28P01, …) says why without any secret.
    const cause = ((error as { cause?: unknown }).cause ?? error) as { code?: string; name?: string };
    return `not read: ${cause.code ?? cause.name}`;
  } finally {
    await close();
  }
}
const info = {
  serverRole: env.SERVER_ROLE ?? "(unset: web or services)",
  servicesUrl: env.SERVICES_URL ?? "(unset)",
  internalApiKey: env.INTERNAL_API_KEY ? "set" : "not set",
  defaultDisk: defaultDiskName(env),
  disks,
  replicas: await replicas(),
  problem,
};
if (values.json) console.log(JSON.stringify(info, null, 2));
else {
  console.log(`server role:      ${info.serverRole}`);
  console.log(`services URL:     ${info.servicesUrl}`);
  console.log(`internal API key: ${info.internalApiKey}`);
  console.log(`default disk:     ${info.defaultDisk}`);
  for (const [name, d] of Object.entries(disks)) console.log(`disk ${name}: ${d.driver} ${d.where}`);
  if (typeof info.replicas === "string") console.log(`replicas:         ${info.replicas}`);
  for (const r of typeof info.replicas === "string" ? [] : info.replicas) {
    const seen = `${Math.round(r.lastSeenAgoMs / 1000)} s ago`;
    console.log(
      `replica ${r.id}: ${r.role} ${r.url ?? `${r.host}:${r.port}`} pid ${r.pid} ${r.version}, seen ${seen}, ${r.alive ? "alive" : "stale"}`,
    );
  }
  if (problem) console.log(`problem: ${problem}`);
}
process.exit(problem ? 1 : 0);
