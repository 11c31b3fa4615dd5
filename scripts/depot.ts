import { chmodSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { type RunningRgw, startRgw } from "./rgw";
import { DEFAULT_ADMIN_PASSWORD, type RunningStack, repoRoot, type StackOptions, startStack } from "./stack";

const HELP = `Usage: pnpm start   [--web-port 8000] [--services-port 8001]
       pnpm dev     [--web-port 8000] [--services-port 8001]
       pnpm cluster [--web-port 8000] [--services-port 8001] [--replicas 2]

start, dev: Depot on this machine: PostgreSQL (embedded under .data/ unless DATABASE_URL is set),
migrations, a first-run seed, the storage service and the web app.

cluster: the scale-out topology on one machine: Ceph RGW as the S3 disk (unless STORAGE_CONFIG names
one), PostgreSQL (a throwaway embedded server unless DATABASE_URL is set), N storage replicas and N web
replicas, and HAProxy in front of each tier with active health checks: the web balancer on --web-port,
the storage balancer (the webs' SERVICES_URL) on --services-port. Everything it starts lives in a
temporary folder removed at the end: RGW keeps objects in memory only.

Ctrl-C stops everything.`;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    "web-port": { type: "string", default: process.env.WEB_PORT ?? "8000" },
    "services-port": { type: "string", default: process.env.SERVICES_PORT ?? "8001" },
    replicas: { type: "string", default: "2" },
    help: { type: "boolean", short: "h" },
  },
});
const mode = positionals[0] === "dev" ? "dev" : positionals[0] === "cluster" ? "cluster" : "start";
if (values.help) {
  console.log(HELP);
  process.exit(0);
}
if (mode !== "dev" && !existsSync(join(repoRoot, "apps/web/.next/BUILD_ID"))) {
  console.error("The web app is not built yet: run `pnpm build` (pnpm start does this for you).");
  process.exit(1);
}

const integer = (name: string, value: string, min: number, max: number) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    console.error(`--${name} must be a whole number from ${min} to ${max}, got "${value}"`);
    process.exit(2);
  }
  return n;
};
const ports = {
  web: integer("web-port", values["web-port"], 1, 65535),
  storage: integer("services-port", values["services-port"], 1, 65535),
};

let rgw: RunningRgw | undefined;
let temporary: string | undefined;
const startAll = async (): Promise<RunningStack> => {
  if (mode !== "cluster") {
    return startStack({ mode, ports, dataDir: resolve(process.env.DEPOT_DATA_DIR ?? join(repoRoot, ".data")) });
  }
  const replicas = integer("replicas", values.replicas, 1, 8);
  temporary = mkdtempSync(join(tmpdir(), "depot-cluster-"));
  // The embedded PostgreSQL runs as the postgres user, which must reach its folder.
  chmodSync(temporary, 0o755);
  const storageEnv: StackOptions["storageEnv"] = {};
  if (!process.env.STORAGE_CONFIG) {
    rgw = await startRgw({ log: console.log });
    storageEnv.STORAGE_CONFIG = JSON.stringify({ disks: { workspace: rgw.disk() } });
  }
  return startStack({
    ports,
    dataDir: join(temporary, "data"),
    replicas: { web: replicas, storage: replicas },
    balancer: true,
    storageEnv,
    // HAProxy adds X-Forwarded-For; the webs take the client's address from it.
    webEnv: { TRUSTED_PROXIES: process.env.TRUSTED_PROXIES ?? "127.0.0.1,::1" },
  });
};
const removeTemporary = async () => {
  await rgw?.stop();
  if (temporary) rmSync(temporary, { recursive: true, force: true });
};

const stack = await startAll().catch(async (error: Error) => {
  console.error(`Depot did not start: ${error.message}`);
  await removeTemporary();
  process.exit(1);
});

const replicaLines = (name: string, list: RunningStack["web"]) =>
  list.length > 1 || stack.balancers ? `\n  ${name}: ${list.map((p) => `${p.name} ${p.url}`).join(", ")}` : "";
console.log(`
Depot is running.
  Web:      ${stack.webUrl}${stack.balancers ? " (HAProxy)" : ""}
  Storage:  ${stack.servicesUrl} (private; needs the X-API-Key)${stack.balancers ? " (HAProxy)" : ""}${replicaLines("Web replicas    ", stack.web)}${replicaLines("Storage replicas", stack.storage)}
  Database: ${stack.databaseUrl.replace(/\/\/[^@]*@/, "//")}
  Disk:     ${stack.storageRoot ?? (rgw ? `Ceph RGW ${rgw.endpoint}, bucket ${rgw.bucket}` : "from STORAGE_CONFIG")}
${stack.seeded ? `  Sign in:  ${stack.seeded} / ${process.env.SEED_ADMIN_PASSWORD ? "(SEED_ADMIN_PASSWORD)" : DEFAULT_ADMIN_PASSWORD}` : "  Sign in with an existing account (pnpm seed created the first one)."}
Press Ctrl-C to stop.
DEPOT_READY ${stack.webUrl}`);

let stopping = false;
const shutdown = async (code: number) => {
  if (stopping) return;
  stopping = true;
  console.log("Stopping Depot…");
  await stack.stop();
  await removeTemporary();
  process.exit(code);
};
process.on("SIGINT", () => void shutdown(0));
process.on("SIGTERM", () => void shutdown(0));
const { name, code, signal } = await stack.exited;
if (mode === "cluster") {
  console.error(`The ${name} replica exited (${code ?? signal}); the balancer sends its requests to the others.`);
} else if (!stopping) {
  console.error(`The ${name} process exited (${code ?? signal}); stopping the rest.`);
  await shutdown(1);
}
