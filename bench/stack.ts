/**
 * Depot for the benchmarks: a fresh database, the storage service and the web app as two real processes on free
 * loopback ports, a signed-in session and a cohort. Like e2e/faults/harness.ts, but every piece registers its
 * cleanup the moment it exists (a failed or interrupted start leaves nothing behind) and the web process can be
 * replaced by a fresh one, so that its peak RSS belongs to one measurement.
 */
import { randomBytes } from "node:crypto";
import { cp, lstat, mkdir, readdir, readFile, readlink, rm, symlink } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { createDb, ensureCohort, seed } from "@depot/db";
import { storageIsHealthy, storageProcessEnv, webIsUp, webProcessEnv } from "../scripts/stack";
import { type Child, childEnv, freePort, GiB, provisionDatabase, REPO_ROOT, startChild, waitUntil } from "./lib";

export const ADMIN = { email: "ewestlund@jhu.edu", password: "admin123" };

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
  const webDir = await snapshotWebApp(workDir);
  const databaseUrl = await provisionDatabase(workDir, { embeddedPort: options.ports?.embeddedPostgres });
  const connection = createDb(databaseUrl, { max: 2 });
  let cohortId: string;
  try {
    await seed(connection.db);
    cohortId = (await ensureCohort(connection.db, { name: "Benchmark cohort" })).cohort.id;
  } finally {
    await connection.close();
  }

  const storageRoot = join(workDir, "storage");
  await mkdir(storageRoot);
  const apiKey = randomBytes(24).toString("hex");
  const authSecret = randomBytes(32).toString("hex");
  const storagePort = options.ports?.storage ?? (await freePort());
  const webPort = options.ports?.web ?? (await freePort());
  const servicesUrl = `http://127.0.0.1:${storagePort}`;
  const webUrl = `http://127.0.0.1:${webPort}`;

  const storage = startChild(
    "storage service",
    [join(REPO_ROOT, "apps/storage/src/main.ts")],
    childEnv({
      ...storageProcessEnv({ port: storagePort, apiKey, databaseUrl, storageRoot }),
      CLEANUP_INTERVAL_MINUTES: "0",
      DEPOT_LOG: "silent",
      ...options.storageEnv,
    }),
    { cwd: join(REPO_ROOT, "apps/storage") },
  );
  await waitUntil("the storage service", storage, storageIsHealthy(servicesUrl, apiKey));

  let generation = 0;
  const startWeb = async (): Promise<Child> => {
    generation++;
    const child = startChild(
      `web app (${generation})`,
      [join(webDir, "server.ts")],
      childEnv({
        ...webProcessEnv({ port: webPort, servicesUrl, apiKey, databaseUrl, authSecret, publicUrl: webUrl }),
        NEXT_TELEMETRY_DISABLED: "1",
        ...options.webEnv,
      }),
      { cwd: webDir },
    );
    await waitUntil("the web app", child, webIsUp(webUrl));
    return child;
  };
  let web = await startWeb();

  const cookie = await signIn(webUrl, ADMIN);

  const stack: DepotStack = {
    webUrl,
    servicesUrl,
    databaseUrl,
    storageRoot,
    apiKey,
    cohortId,
    cookie,
    storagePid: () => storage.pid,
    outputTails: () => ({ storage: storage.outputTail(), web: web.outputTail() }),
    webPid: () => web.pid,
    restartWeb: async () => {
      await web.stop();
      web = await startWeb();
    },
  };
  return stack;
}

/** Signs in through the web; returns the session cookie as `name=value`. */
export async function signIn(webUrl: string, credentials: { email: string; password: string }): Promise<string> {
  const res = await fetch(`${webUrl}/api/session`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(credentials),
  });
  await res.arrayBuffer();
  const cookie = (res.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
  if (res.status !== 200 || !cookie.includes("=")) throw new Error(`sign-in of ${credentials.email}: ${res.status}`);
  return cookie;
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
      ...storageProcessEnv({ port, apiKey, databaseUrl }),
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
