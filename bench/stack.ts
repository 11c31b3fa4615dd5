/**
 * Depot for the benchmarks, from the one stack starter (scripts/stack.ts): real processes on loopback ports, on
 * E2E_PORT_BASE + 10..14 when set, else on free ones, each with its upload client; and the S3 server of the S3
 * benchmarks. All stopped at cleanup.
 */
import { cp, mkdir, readFile, rm, symlink } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { ensureCohort } from "@depot/db";
import { createS3Client } from "../apps/storage/src/drivers/s3";
import { startRgw } from "../scripts/rgw";
import { ADMIN, repoRoot, type StackOptions, signIn, startStack } from "../scripts/stack";
import { childEnv, clientRunner, onCleanup, withDb } from "./lib";

const WEB_APP = join(repoRoot, "apps/web");
/** What the production web server reads at run time besides its build; the rest of .next is build-time only. */
const WEB_FILES = ["server.ts", "next.config.ts", "package.json", "lib"];
const BUILD_SKIPPED = new Set(["cache", "trace", "trace-build", "diagnostics", "types", "lock"]);

/**
 * A private copy of the built web app in `workDir`. Other people build in the same work tree (turbo rebuilds
 * apps/web/.next whenever a source changed, deleting the build first), which would take the build away from under a
 * running benchmark. The copy uses the work tree's node_modules; fs.cp makes the build's own links into
 * node_modules absolute, so they still resolve from the copy.
 */
async function snapshotWebApp(workDir: string): Promise<string> {
  const target = join(workDir, "web");
  const buildId = () => readFile(join(WEB_APP, ".next/BUILD_ID"), "utf8").catch(() => null);
  for (let attempt = 1; ; attempt++) {
    const before = await buildId();
    if (before) {
      await rm(target, { recursive: true, force: true });
      await mkdir(target);
      for (const name of WEB_FILES) await cp(join(WEB_APP, name), join(target, name), { recursive: true });
      const copied = await cp(join(WEB_APP, ".next"), join(target, ".next"), {
        recursive: true,
        filter: (source) => !BUILD_SKIPPED.has(source.slice(join(WEB_APP, ".next").length + 1)),
      })
        .then(() => true)
        .catch(() => false);
      // The copy is good only if no rebuild started or finished meanwhile.
      if (copied && (await buildId()) === before) {
        await symlink(join(WEB_APP, "node_modules"), join(target, "node_modules"));
        return target;
      }
    }
    if (attempt >= 60) throw new Error("apps/web has no stable production build: run `pnpm --filter @depot/web build`");
    if (attempt === 1) console.log("   waiting for someone else's build of apps/web to finish");
    await sleep(5_000);
  }
}

const portBase = Number(process.env.E2E_PORT_BASE ?? 0);
const port = (offset: number) => (portBase ? portBase + offset : undefined);

async function benchStack(workDir: string, name: string, options: Omit<StackOptions, "dataDir">) {
  const stack = await startStack({
    dataDir: join(workDir, name),
    baseEnv: childEnv(),
    publicHost: "127.0.0.1",
    log: () => {},
    ...options,
    storageEnv: { CLEANUP_INTERVAL_MINUTES: "0", DEPOT_LOG: "silent", ...options.storageEnv },
  });
  onCleanup(name, () => stack.stop());
  return stack;
}

/**
 * Depot on a fresh database, with a private copy of the built web app, the administrator's session cookie and a
 * cohort. The web process can be replaced by a fresh one, so that its peak RSS belongs to one measurement.
 */
export async function startDepot(workDir: string, options: Pick<StackOptions, "webEnv" | "storageEnv"> = {}) {
  const stack = await benchStack(workDir, "depot", {
    ...options,
    database: "fresh",
    storageRoot: join(workDir, "storage"),
    ports: { web: port(10), storage: port(11), postgres: port(12) },
    webAppDir: await snapshotWebApp(workDir),
  });
  const { cohort } = await withDb(stack.databaseUrl, 1, ({ db }) => ensureCohort(db, { name: "Benchmark cohort" }));
  const [storage, web, cookie] = [stack.storage[0]!, stack.web[0]!, await signIn(stack.webUrl, ADMIN)];
  return {
    ...stack,
    storageRoot: stack.storageRoot ?? "",
    cohortId: cohort.id,
    cookie,
    runClient: clientRunner({ BENCH_API_KEY: stack.apiKey, BENCH_COOKIE: cookie }),
    storagePid: () => storage.pid() ?? 0,
    webPid: () => web.pid() ?? 0,
    /** Both servers, for CPU accounting; the web's pid changes with restartWeb. */
    pids: () => ({ web: web.pid() ?? 0, storage: storage.pid() ?? 0 }),
    restartWeb: () => web.restart(),
  };
}

export type DepotStack = Awaited<ReturnType<typeof startDepot>>;

/** The storage service alone (its disks in storageEnv.STORAGE_CONFIG), on `databaseUrl` or a fresh database. */
export async function startStorage(workDir: string, storageEnv: Record<string, string> = {}, databaseUrl?: string) {
  const stack = await benchStack(workDir, `storage-${storageEnv.STORAGE_CONFIG ? "config" : "local"}`, {
    replicas: { web: 0 },
    database: databaseUrl ? "default" : "fresh",
    baseEnv: childEnv(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
    ports: { storage: port(13), postgres: port(14) },
    storageEnv,
  });
  const [service, runClient] = [stack.storage[0]!, clientRunner({ BENCH_API_KEY: stack.apiKey })];
  return { ...stack, service, runClient, pid: () => service.pid() ?? 0 };
}

/** Ceph's RADOS Gateway with a bucket, an S3 client on it, and `storageEnv` for a workspace disk in that bucket. */
export async function startS3(memstoreBytes: number) {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  const rgw = await startRgw({ bucket: "depot-bench", memstoreBytes });
  onCleanup("RADOS Gateway", () => rgw.stop());
  const s3 = createS3Client(rgw.disk());
  onCleanup("S3 client", async () => s3.destroy());
  return { rgw, s3, storageEnv: { STORAGE_CONFIG: JSON.stringify({ disks: { workspace: rgw.disk() } }) } };
}

/** Removes an upload so that the next measurement starts on free disk: a file (object and all), or a bare object. */
export async function deleteUpload(stack: DepotStack, upload: { fileId?: string; key?: string }): Promise<void> {
  const res = upload.fileId
    ? await fetch(`${stack.webUrl}/api/files/${upload.fileId}`, { method: "DELETE", headers: { cookie: stack.cookie } })
    : await fetch(
        `${stack.servicesUrl}/internal/storage/delete?${new URLSearchParams({ disk: "workspace", key: upload.key ?? "" })}`,
        { method: "DELETE", headers: { "x-api-key": stack.apiKey } },
      );
  await res.arrayBuffer();
  if (res.status >= 300) throw new Error(`deleting ${upload.fileId ?? upload.key} answered ${res.status}`);
}
