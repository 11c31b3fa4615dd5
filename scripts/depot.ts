import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { DEFAULT_ADMIN_PASSWORD, repoRoot, startStack } from "./stack";

const HELP = `Usage: pnpm start [--web-port 8000] [--services-port 8001]
       pnpm dev   [--web-port 8000] [--services-port 8001]

Starts Depot on this machine: PostgreSQL (embedded under .data/ unless DATABASE_URL is set),
migrations, a first-run seed, the storage service and the web app. Ctrl-C stops everything.`;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    "web-port": { type: "string", default: process.env.WEB_PORT ?? "8000" },
    "services-port": { type: "string", default: process.env.SERVICES_PORT ?? "8001" },
    help: { type: "boolean", short: "h" },
  },
});
const mode = positionals[0] === "dev" ? "dev" : "start";
if (values.help) {
  console.log(HELP);
  process.exit(0);
}
if (mode === "start" && !existsSync(join(repoRoot, "apps/web/.next/BUILD_ID"))) {
  console.error("The web app is not built yet: run `pnpm build` (pnpm start does this for you).");
  process.exit(1);
}

const port = (name: string, value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) {
    console.error(`--${name} must be a port number, got "${value}"`);
    process.exit(2);
  }
  return n;
};

const stack = await startStack({
  mode,
  webPort: port("web-port", values["web-port"]),
  servicesPort: port("services-port", values["services-port"]),
  dataDir: resolve(process.env.DEPOT_DATA_DIR ?? join(repoRoot, ".data")),
}).catch((error: Error) => {
  console.error(`Depot did not start: ${error.message}`);
  process.exit(1);
});

console.log(`
Depot is running.
  Web:      ${stack.webUrl}
  Storage:  ${stack.servicesUrl} (private; needs the X-API-Key)
  Database: ${stack.databaseUrl.replace(/\/\/[^@]*@/, "//")}
  Disk:     ${stack.storageRoot ?? "from STORAGE_CONFIG"}
${stack.seeded ? `  Sign in:  ${stack.seeded} / ${process.env.SEED_ADMIN_PASSWORD ? "(SEED_ADMIN_PASSWORD)" : DEFAULT_ADMIN_PASSWORD}` : "  Sign in with an existing account (pnpm seed created the first one)."}
Press Ctrl-C to stop.
DEPOT_READY ${stack.webUrl}`);

let stopping = false;
const shutdown = async (code: number) => {
  if (stopping) return;
  stopping = true;
  console.log("Stopping Depot…");
  await stack.stop();
  process.exit(code);
};
process.on("SIGINT", () => void shutdown(0));
process.on("SIGTERM", () => void shutdown(0));
const { name, code } = await stack.exited;
if (!stopping) {
  console.error(`The ${name} process exited (code ${code}); stopping the rest.`);
  await shutdown(1);
}
