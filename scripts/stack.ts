/**
 * The one place that assembles Depot out of processes: a database, migrations, a first-run seed, N storage
 * replicas, N web replicas and, with more than one replica or when asked, HAProxy in front of each tier. `pnpm start`,
 * `pnpm dev`, `pnpm cluster`, `pnpm two-server`, the Playwright, CLI, fault, adversarial and scale suites and the
 * benchmarks all start Depot through startStack; a test that needs to hurt one process gets its handle.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { countUsers, createDb, DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD, seed } from "@depot/db";
import { type EmbeddedPostgresHandle, ensureDatabase, startEmbeddedPostgres } from "@depot/db/embedded";
import { runMigrations } from "@depot/db/migrate";
import { createTestDatabase, freePort } from "@depot/db/testing";
import { type RunningBalancer, startBalancer } from "./haproxy";
import { storageIsHealthy, waitFor, webIsUp } from "./readiness";

export { storageIsHealthy, webIsUp };

export const repoRoot = fileURLToPath(new URL("..", import.meta.url));

export interface StackOptions {
  /** `dev` runs the web app under `next dev`. */
  mode?: "start" | "dev";
  /** Generated secrets, the embedded database and the default disk live here. */
  dataDir: string;
  /**
   * `default`: DATABASE_URL as it is, else an embedded server kept in dataDir (what `pnpm start` wants).
   * `fresh`: a new database on DATABASE_URL's server, dropped by stop(), else a new embedded server in dataDir.
   * `embedded`: always an embedded server in dataDir, which the caller may stop and start (fault tests).
   */
  database?: "default" | "fresh" | "embedded";
  /**
   * Public ports: the web's and storage's (the balancers' when there are balancers), and the embedded
   * PostgreSQL's. Free loopback ports where absent (54329 for `default`'s embedded server).
   */
  ports?: { web?: number; storage?: number; postgres?: number };
  /** Replicas of each tier (default 1 each); `web: 0` starts storage only (the storage benchmarks). */
  replicas?: { web?: number; storage?: number };
  /**
   * HAProxy in front of each tier, with active health checks. Default: when a tier has more than one replica.
   * Without it, web replica i talks straight to storage replica i.
   */
  balancer?: boolean;
  /** The local disk root; ignored when storageEnv has STORAGE_CONFIG. Default: NAS_WORKSPACE_PATH, else dataDir/storage. */
  storageRoot?: string;
  storageEnv?: Record<string, string>;
  webEnv?: Record<string, string>;
  /** Environment every process starts from (default: this process's). */
  baseEnv?: NodeJS.ProcessEnv;
  /** The built web app to run (default apps/web; the benchmarks run a private copy). */
  webAppDir?: string;
  /** Working folders of the processes (default: their apps' folders). */
  webWorkDir?: string;
  storageWorkDir?: string;
  /** The host name in the web's public URL: the session cookie belongs to it. */
  publicHost?: string;
  log?: (line: string) => void;
}

export interface ServerProcess {
  name: string;
  url: string;
  port: number;
  pid(): number | undefined;
  /** SIGKILL, as a crash: the process gets no chance to clean up. */
  kill(): Promise<void>;
  /** SIGTERM, then SIGKILL after 10 s. */
  stop(): Promise<void>;
  /** Starts it again on the same port and waits until it is ready. */
  start(): Promise<void>;
  restart(): Promise<void>;
  /** The last lines it printed, for diagnosis. */
  outputTail(): string;
}

export interface ServerExit {
  name: string;
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface RunningStack {
  webUrl: string;
  servicesUrl: string;
  databaseUrl: string;
  storageRoot: string | undefined;
  /** The internal API key; hand it to children in their environment only, never print it. */
  apiKey: string;
  authSecret: string;
  web: ServerProcess[];
  storage: ServerProcess[];
  balancers: RunningBalancer | undefined;
  /** The embedded server, when there is one. */
  postgres: { stop(): Promise<void>; start(): Promise<void> } | undefined;
  /** The administrator's email when this start seeded an empty database. */
  seeded: string | null;
  /** Resolves when a server exits without having been told to. */
  exited: Promise<ServerExit>;
  stop(): Promise<void>;
}

/** Secrets from the environment, else generated once into the data folder (readable by its owner only). */
function developmentSecrets(dataDir: string, env: NodeJS.ProcessEnv): { apiKey: string; authSecret: string } {
  const file = join(dataDir, "secrets.json");
  const stored = existsSync(file)
    ? (JSON.parse(readFileSync(file, "utf8")) as { apiKey: string; authSecret: string })
    : { apiKey: randomBytes(32).toString("hex"), authSecret: randomBytes(32).toString("hex") };
  if (!existsSync(file)) writeFileSync(file, JSON.stringify(stored), { mode: 0o600 });
  return { apiKey: env.INTERNAL_API_KEY || stored.apiKey, authSecret: env.AUTH_SECRET || stored.authSecret };
}

const TAIL_LINES = 60;

/**
 * Node flags of every Depot server process, both measured here (docs/performance.md):
 * - `--initial-old-space-size=128`: after a few idle seconds V8's memory reducer shrank the old generation's limit to
 *   just above the live heap (about 25 MB), and a stream of upload bytes then started a major GC every 40 to 50 ms
 *   (108 mark-compacts and three times the CPU for 1 GiB of tus after 15 s idle; 6 with this floor).
 * - `--heap-growing-percent=50`: when collections are cheap V8 lets the old generation grow to 4 times the live heap
 *   before the next one, and a long stream of short-lived objects (an export of a million audit rows) filled it with
 *   garbage: the web's RSS grew 246 MiB (collections at 320 MB with 78 MB live); with the factor at 1.5, 45 MiB, no
 *   slower.
 */
export const SERVER_NODE_FLAGS = ["--initial-old-space-size=128", "--heap-growing-percent=50"];

/**
 * A TypeScript entry point as a Node process of its own (`node --import tsx`, so the pid is the server itself),
 * restartable on the same port. Its output is always drained and forwarded line by line with a [name] prefix.
 */
function serverProcess(o: {
  name: string;
  port: number;
  url: string;
  cwd: string;
  script: string;
  args?: string[];
  env: NodeJS.ProcessEnv;
  ready: () => Promise<boolean>;
  log: (line: string) => void;
  onUnexpectedExit: (code: number | null, signal: NodeJS.Signals | null) => void;
}): ServerProcess {
  let child: ChildProcess | undefined;
  // Set when we kill or stop it ourselves: only other exits are crashes.
  let expectedExit = false;
  const tail: string[] = [];
  const forward = (chunk: Buffer) => {
    for (const line of chunk.toString("utf8").split("\n")) {
      if (!line.trim()) continue;
      tail.push(line);
      if (tail.length > TAIL_LINES) tail.shift();
      o.log(`[${o.name}] ${line}`);
    }
  };
  const alive = (c: ChildProcess | undefined): c is ChildProcess =>
    c !== undefined && c.exitCode === null && c.signalCode === null;
  const ended = (c: ChildProcess) =>
    new Promise<void>((resolve) => (alive(c) ? c.once("exit", () => resolve()) : resolve()));

  const handle: ServerProcess = {
    name: o.name,
    url: o.url,
    port: o.port,
    pid: () => child?.pid,
    async start() {
      if (alive(child)) return;
      expectedExit = false;
      // tsx by its resolved path: Node would look the bare name up from the child's working folder.
      const started = spawn(
        process.execPath,
        [...SERVER_NODE_FLAGS, "--import", import.meta.resolve("tsx"), o.script, ...(o.args ?? [])],
        {
          cwd: o.cwd,
          env: o.env,
          stdio: ["ignore", "pipe", "pipe"],
        },
      );
      child = started;
      started.stdout?.on("data", forward);
      started.stderr?.on("data", forward);
      started.once("exit", (code, signal) => {
        if (!expectedExit && child === started) o.onUnexpectedExit(code, signal);
      });
      await waitFor(o.name, o.ready, started);
    },
    async kill() {
      const c = child;
      if (!alive(c)) return;
      expectedExit = true;
      c.kill("SIGKILL");
      await ended(c);
    },
    async stop() {
      const c = child;
      if (!alive(c)) return;
      expectedExit = true;
      c.kill("SIGTERM");
      const timer = setTimeout(() => c.kill("SIGKILL"), 10_000);
      await ended(c);
      clearTimeout(timer);
    },
    async restart() {
      await handle.stop();
      await handle.start();
    },
    outputTail: () => tail.join("\n"),
  };
  return handle;
}

interface Database {
  url: string;
  embedded: EmbeddedPostgresHandle | undefined;
  restartEmbedded?: () => Promise<void>;
  release(): Promise<void>;
}

async function openDatabase(
  options: StackOptions,
  env: NodeJS.ProcessEnv,
  log: (l: string) => void,
): Promise<Database> {
  const kind = options.database ?? "default";
  if (env.DATABASE_URL && kind === "default")
    return { url: env.DATABASE_URL, embedded: undefined, release: async () => {} };
  if (env.DATABASE_URL && kind === "fresh") {
    const database = await createTestDatabase({ migrate: false });
    return { url: database.url, embedded: undefined, release: () => database.drop() };
  }
  const dataDir = embeddedPostgresDir(options.dataDir);
  const port =
    options.ports?.postgres ?? (kind === "default" ? Number(env.DEPOT_EMBEDDED_PG_PORT ?? 54329) : await freePort());
  // `fresh` is thrown away at stop; the others keep their data (an `embedded` one is stopped and started by tests).
  const persistent = kind !== "fresh";
  let embedded = await startEmbeddedPostgres({ dataDir, port, persistent, log });
  const url = await ensureDatabase(embedded.adminUrl, "depot");
  const database: Database = {
    url,
    embedded,
    restartEmbedded: async () => {
      embedded = await startEmbeddedPostgres({ dataDir, port, persistent, log });
      database.embedded = embedded;
    },
    release: async () => database.embedded?.stop(),
  };
  return database;
}

/** Migrations, then the seed when the database has no user yet. Returns the seeded administrator's email. */
async function prepareDatabase(url: string, env: NodeJS.ProcessEnv): Promise<string | null> {
  await runMigrations(url);
  const { db, close } = createDb(url, { max: 1 });
  try {
    if ((await countUsers(db)) > 0) return null;
    const result = await seed(db, {
      adminEmail: env.SEED_ADMIN_EMAIL || undefined,
      adminPassword: env.SEED_ADMIN_PASSWORD || undefined,
      production: env.NODE_ENV === "production",
    });
    return result.adminEmail;
  } finally {
    await close();
  }
}

export async function startStack(options: StackOptions): Promise<RunningStack> {
  const log = options.log ?? console.log;
  const env = options.baseEnv ?? process.env;
  const mode = options.mode ?? "start";
  const webReplicas = options.replicas?.web ?? 1;
  const storageReplicas = options.replicas?.storage ?? 1;
  const balanced = options.balancer ?? (webReplicas > 1 || storageReplicas > 1);
  mkdirSync(options.dataDir, { recursive: true, mode: 0o755 });
  const { apiKey, authSecret } = developmentSecrets(options.dataDir, env);

  const cleanups: (() => Promise<unknown>)[] = [];
  const processes: ServerProcess[] = [];
  let stopping = false;
  let reportExit: (exit: ServerExit) => void = () => {};
  const exited = new Promise<ServerExit>((resolve) => {
    reportExit = resolve;
  });
  const stop = async () => {
    stopping = true;
    await Promise.all(processes.map((p) => p.stop()));
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
  };

  try {
    const database = await openDatabase(options, env, log);
    cleanups.push(() => database.release());
    const seeded = await prepareDatabase(database.url, env);

    const storageRoot =
      (options.storageEnv?.STORAGE_CONFIG ?? env.STORAGE_CONFIG)
        ? undefined
        : (options.storageRoot ?? env.NAS_WORKSPACE_PATH ?? join(options.dataDir, "storage"));
    if (storageRoot) mkdirSync(storageRoot, { recursive: true });

    const publicPort = {
      web: options.ports?.web ?? (await freePort()),
      storage: options.ports?.storage ?? (await freePort()),
    };
    // Behind a balancer the public ports are the balancer's and each replica gets a free one; without one, the
    // first replica has the public port and the others free ones.
    const replicaPorts = async (tier: "web" | "storage", count: number) =>
      Promise.all(Array.from({ length: count }, (_, i) => (!balanced && i === 0 ? publicPort[tier] : freePort())));
    const storagePorts = await replicaPorts("storage", storageReplicas);
    const webPorts = await replicaPorts("web", webReplicas);
    const publicHost = options.publicHost ?? "localhost";
    const servicesUrl = `http://127.0.0.1:${publicPort.storage}`;
    const webUrl = `http://${publicHost}:${publicPort.web}`;
    const onUnexpectedExit = (name: string) => (code: number | null, signal: NodeJS.Signals | null) => {
      if (!stopping) reportExit({ name, code, signal });
    };

    const storage = storagePorts.map((port, i) => {
      const name = storageReplicas > 1 ? `storage-${i + 1}` : "storage";
      const url = `http://127.0.0.1:${port}`;
      return serverProcess({
        name,
        port,
        url,
        cwd: options.storageWorkDir ?? join(repoRoot, "apps/storage"),
        script: join(repoRoot, "apps/storage/src/main.ts"),
        env: {
          ...env,
          SERVER_ROLE: "services",
          HOST: "127.0.0.1",
          PORT: String(port),
          INTERNAL_API_KEY: apiKey,
          DATABASE_URL: database.url,
          ...(storageRoot ? { NAS_WORKSPACE_PATH: storageRoot } : {}),
          ...options.storageEnv,
        },
        ready: storageIsHealthy(url, apiKey),
        log,
        onUnexpectedExit: onUnexpectedExit(name),
      });
    });
    processes.push(...storage);
    await Promise.all(storage.map((s) => s.start()));

    const web: ServerProcess[] = [];
    const webAppDir = options.webAppDir ?? join(repoRoot, "apps/web");
    for (const [i, port] of webPorts.entries()) {
      const name = webReplicas > 1 ? `web-${i + 1}` : "web";
      const url = `http://${publicHost}:${port}`;
      web.push(
        serverProcess({
          name,
          port,
          url,
          cwd: options.webWorkDir ?? webAppDir,
          script: join(webAppDir, "server.ts"),
          args: mode === "dev" ? ["--dev"] : [],
          env: {
            ...env,
            SERVER_ROLE: "web",
            HOST: env.HOST ?? "127.0.0.1",
            PORT: String(port),
            // Without a balancer, web i talks to storage i (a test can then choose the replica a request meets).
            SERVICES_URL: balanced ? servicesUrl : storage[i % storage.length]!.url,
            INTERNAL_API_KEY: apiKey,
            DATABASE_URL: database.url,
            AUTH_SECRET: authSecret,
            PUBLIC_URL: env.PUBLIC_URL ?? webUrl,
            NODE_ENV: mode === "dev" ? "development" : "production",
            NEXT_TELEMETRY_DISABLED: "1",
            ...options.webEnv,
          },
          ready: webIsUp(url),
          log,
          onUnexpectedExit: onUnexpectedExit(name),
        }),
      );
    }
    processes.push(...web);
    // One at a time: several Next servers compiling their first page at once starve a small machine.
    for (const w of web) await w.start();

    let balancers: RunningBalancer | undefined;
    if (balanced) {
      const tier = (name: "web" | "storage", replicas: ServerProcess[]) => ({
        tier: name,
        port: publicPort[name],
        servers: replicas.map((p) => ({ name: p.name, port: p.port })),
      });
      balancers = await startBalancer({
        dir: join(options.dataDir, "haproxy"),
        tiers: [tier("storage", storage), tier("web", web)].filter((t) => t.servers.length > 0),
        apiKey,
        log,
      });
      cleanups.push(() => balancers?.stop() ?? Promise.resolve());
    }

    return {
      webUrl,
      servicesUrl,
      databaseUrl: database.url,
      storageRoot,
      apiKey,
      authSecret,
      web,
      storage,
      balancers,
      postgres: database.restartEmbedded
        ? { stop: async () => database.embedded?.stop(), start: database.restartEmbedded }
        : undefined,
      seeded,
      exited,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Signs in through the web's API and returns the session cookie as `name=value`. */
export async function signIn(webUrl: string, who: { email: string; password: string }): Promise<string> {
  const res = await fetch(`${webUrl}/api/session`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(who),
  });
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`sign-in as ${who.email} failed: ${res.status}`);
  const cookie = (res.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
  if (!cookie.includes("=")) throw new Error("sign-in set no session cookie");
  return cookie;
}

/** The seeded administrator (`pnpm seed`'s defaults). */
/** Where the stack keeps its embedded PostgreSQL's data, inside its dataDir. */
export const embeddedPostgresDir = (dataDir: string) => join(dataDir, "postgres");

export const ADMIN = { email: DEFAULT_ADMIN_EMAIL, password: DEFAULT_ADMIN_PASSWORD };
export { DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD };
