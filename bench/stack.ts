/**
 * Depot for the benchmarks, from the one stack starter: a fresh database, the storage service and a private copy of
 * the built web app as two real processes on loopback ports, a signed-in session and a cohort. The web process can
 * be replaced by a fresh one, so that its peak RSS belongs to one measurement.
 */
import { randomBytes } from "node:crypto";
import { cp, lstat, mkdir, readdir, readFile, readlink, rm, symlink } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { createDb, ensureCohort } from "@depot/db";
import { ADMIN, signIn, startStack, storageIsHealthy } from "../scripts/stack";
import { childEnv, freePort, GiB, onCleanup, REPO_ROOT, startChild, waitUntil } from "./lib";

export { ADMIN };

const WEB_APP = join(REPO_ROOT, "apps/web");
/** What the production web server reads at run time besides its build; the rest of .next is build-time only. */
const WEB_FILES = ["server.ts", "next.config.ts", "package.json", "lib"];
const BUILD_SKIPPED = new Set(["cache", "trace", "trace-build", "diagnostics", "types", "lock"]);

/**
 * A private copy of the built web app in `workDir`. Other people build in the same work tree (turbo rebuilds
 * apps/web/.next whenever a source changed, deleting the build first), which would take the build away from under a
 * running benchmark. The copy uses the work tree's node_modules; the build's own links into node_modules are
 * made absolute so they still resolve from the copy.
 */
export async function snapshotWebApp(workDir: string): Promise<string> {
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
        verbatimSymlinks: true,
        filter: (source) => !BUILD_SKIPPED.has(source.slice(join(WEB_APP, ".next").length + 1)),
      }).then(
        () => true,
        () => false,
      );
      // The copy is good only if no rebuild started or finished meanwhile.
      if (copied && (await buildId()) === before) {
        await absoluteLinks(join(WEB_APP, ".next/node_modules"), join(target, ".next/node_modules"));
        await symlink(join(WEB_APP, "node_modules"), join(target, "node_modules"));
        return target;
      }
    }
    if (attempt >= 60) throw new Error("apps/web has no stable production build: run `pnpm --filter @depot/web build`");
    if (attempt === 1) console.log("   waiting for someone else's build of apps/web to finish");
    await sleep(5_000);
  }
}

async function absoluteLinks(sourceDir: string, targetDir: string): Promise<void> {
  for (const entry of await readdir(targetDir, { withFileTypes: true }).catch(() => [])) {
    const copy = join(targetDir, entry.name);
    if (entry.isDirectory()) await absoluteLinks(join(sourceDir, entry.name), copy);
    else if ((await lstat(copy)).isSymbolicLink()) {
      const link = await readlink(copy);
      if (link.startsWith("/")) continue;
      await rm(copy);
      await symlink(resolve(dirname(join(sourceDir, entry.name)), link), copy);
    }
  }
}

export interface DepotStack {
  webUrl: string;
  servicesUrl: string;
  databaseUrl: string;
  storageRoot: string;
  /** The internal API key; hand it to children in their environment only, never print it. */
  apiKey: string;
  cohortId: string;
  /** `name=value` of the signed-in administrator's session cookie. */
  cookie: string;
  storagePid(): number;
  /** The last few KB each server printed, for diagnosis. */
  outputTails(): { storage: string; web: string };
  webPid(): number;
  /** Stops the web process and starts a fresh one on the same port (the session cookie stays valid). */
  restartWeb(): Promise<void>;
}

export async function startDepot(
  workDir: string,
  options: {
    webEnv?: Record<string, string>;
    storageEnv?: Record<string, string>;
    /** Fixed loopback ports (a port block); free ones when not given. */
    ports?: { web: number; storage: number; embeddedPostgres: number };
  } = {},
) {
  const webAppDir = await snapshotWebApp(workDir);
  const stack = await startStack({
    dataDir: join(workDir, "depot"),
    database: "fresh",
    storageRoot: join(workDir, "storage"),
    ports: options.ports && {
      web: options.ports.web,
      storage: options.ports.storage,
      postgres: options.ports.embeddedPostgres,
    },
    baseEnv: childEnv({}),
    storageEnv: { CLEANUP_INTERVAL_MINUTES: "0", DEPOT_LOG: "silent", ...options.storageEnv },
    webEnv: options.webEnv,
    webAppDir,
    publicHost: "127.0.0.1",
    log: () => {},
  });
  onCleanup("Depot", () => stack.stop());
  const connection = createDb(stack.databaseUrl, { max: 2 });
  let cohortId: string;
  try {
    cohortId = (await ensureCohort(connection.db, { name: "Benchmark cohort" })).cohort.id;
  } finally {
    await connection.close();
  }
  const [storage, web] = [stack.storage[0]!, stack.web[0]!];
  const depot: DepotStack = {
    webUrl: stack.webUrl,
    servicesUrl: stack.servicesUrl,
    databaseUrl: stack.databaseUrl,
    storageRoot: stack.storageRoot ?? "",
    apiKey: stack.apiKey,
    cohortId,
    cookie: await signIn(stack.webUrl, ADMIN),
    storagePid: () => storage.pid() ?? 0,
    outputTails: () => ({ storage: storage.outputTail(), web: web.outputTail() }),
    webPid: () => web.pid() ?? 0,
    restartWeb: () => web.restart(),
  };
  return depot;
}

/** Removes an uploaded file through the web API (object and all), so the next measurement starts on free disk. */
export async function deleteFile(stack: DepotStack, fileId: string): Promise<void> {
  const res = await fetch(`${stack.webUrl}/api/files/${fileId}`, {
    method: "DELETE",
    headers: { cookie: stack.cookie },
  });
  await res.arrayBuffer();
  if (res.status >= 300) throw new Error(`deleting file ${fileId} answered ${res.status}`);
}

/** Removes an object that was written straight to storage (no file row). */
export async function deleteObject(stack: DepotStack, key: string): Promise<void> {
  const url = new URL("/internal/storage/delete", stack.servicesUrl);
  url.searchParams.set("disk", "workspace");
  url.searchParams.set("key", key);
  const res = await fetch(url, { method: "DELETE", headers: { "x-api-key": stack.apiKey } });
  await res.arrayBuffer();
  if (res.status >= 300) throw new Error(`deleting object ${key} answered ${res.status}`);
}

/** The storage service alone, on a free port with its own API key; `env` names its disks (NAS_WORKSPACE_PATH, …). */
export async function startStorage(label: string, databaseUrl: string, env: Record<string, string>) {
  const port = await freePort();
  const apiKey = randomBytes(24).toString("hex");
  const url = `http://127.0.0.1:${port}`;
  const child = startChild(
    label,
    [join(REPO_ROOT, "apps/storage/src/main.ts")],
    childEnv({
      SERVER_ROLE: "services",
      HOST: "127.0.0.1",
      PORT: String(port),
      INTERNAL_API_KEY: apiKey,
      DATABASE_URL: databaseUrl,
      MAX_UPLOAD_BYTES: String(4 * GiB),
      CLEANUP_INTERVAL_MINUTES: "0",
      DEPOT_LOG: "silent",
      ...env,
    }),
    { cwd: join(REPO_ROOT, "apps/storage") },
  );
  await waitUntil(label, child, storageIsHealthy(url, apiKey), 30_000);
  return { url, apiKey, pid: child.pid, stop: child.stop };
}
