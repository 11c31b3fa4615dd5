import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { countUsers, createDb, DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD, seed } from "@depot/db";
import { ensureDatabase, startEmbeddedPostgres } from "@depot/db/embedded";
import { runMigrations } from "@depot/db/migrate";

export const repoRoot = fileURLToPath(new URL("..", import.meta.url));

export interface StackOptions {
  mode: "start" | "dev";
  webPort: number;
  servicesPort: number;
  /** Where the embedded database, generated secrets and the default disk live. */
  dataDir: string;
  /** Working folders of the two processes; the web one is expected to stay empty. */
  webWorkDir?: string;
  servicesWorkDir?: string;
  log?: (line: string) => void;
}

export interface RunningStack {
  webUrl: string;
  servicesUrl: string;
  databaseUrl: string;
  storageRoot: string | undefined;
  apiKey: string;
  processes: { web: ChildProcess; storage: ChildProcess };
  seeded: string | null;
  /** Resolves when either server exits on its own. */
  exited: Promise<{ name: string; code: number | null }>;
  stop(): Promise<void>;
}

/** Secrets from the environment, else generated once into the data folder (readable by its owner only). */
function developmentSecrets(dataDir: string): { apiKey: string; authSecret: string } {
  const file = join(dataDir, "secrets.json");
  const stored = existsSync(file)
    ? (JSON.parse(readFileSync(file, "utf8")) as { apiKey: string; authSecret: string })
    : { apiKey: randomBytes(32).toString("hex"), authSecret: randomBytes(32).toString("hex") };
  if (!existsSync(file)) writeFileSync(file, JSON.stringify(stored), { mode: 0o600 });
  return {
    apiKey: process.env.INTERNAL_API_KEY || stored.apiKey,
    authSecret: process.env.AUTH_SECRET || stored.authSecret,
  };
}

/** A TypeScript entry point as its own Node process, its output forwarded line by line with a [name] prefix. */
export function startProcess(
  name: string,
  cwd: string,
  script: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  log: (l: string) => void,
) {
  // tsx by its resolved path: Node would look the bare name up from the child's working folder.
  const child = spawn(process.execPath, ["--import", import.meta.resolve("tsx"), script, ...args], {
    cwd,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const forward = (chunk: Buffer) => {
    for (const line of chunk.toString("utf8").split("\n")) if (line.trim()) log(`[${name}] ${line}`);
  };
  child.stdout?.on("data", forward);
  child.stderr?.on("data", forward);
  return child;
}

export async function waitFor(what: string, check: () => Promise<boolean>, child: ChildProcess, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what} exited with code ${child.exitCode} before it was ready`);
    if (await check().catch(() => false)) return;
    await sleep(250);
  }
  throw new Error(`${what} was not ready within ${timeoutMs / 1000} s`);
}

export const stopChild = async (child: ChildProcess) => {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
};

/** What the storage service is started with, wherever it is started: pnpm start, the harnesses, the benchmarks. */
export function storageProcessEnv(o: {
  port: number;
  apiKey: string;
  databaseUrl: string;
  storageRoot?: string;
}): Record<string, string> {
  return {
    SERVER_ROLE: "services",
    HOST: "127.0.0.1",
    PORT: String(o.port),
    INTERNAL_API_KEY: o.apiKey,
    DATABASE_URL: o.databaseUrl,
    ...(o.storageRoot ? { NAS_WORKSPACE_PATH: o.storageRoot } : {}),
  };
}

/** What the web app is started with, wherever it is started. */
export function webProcessEnv(o: {
  port: number;
  host?: string;
  servicesUrl: string;
  apiKey: string;
  databaseUrl: string;
  authSecret: string;
  /** One host name everywhere: the session cookie belongs to it. */
  publicUrl: string;
  dev?: boolean;
}): Record<string, string> {
  return {
    SERVER_ROLE: "web",
    HOST: o.host ?? "127.0.0.1",
    PORT: String(o.port),
    SERVICES_URL: o.servicesUrl,
    INTERNAL_API_KEY: o.apiKey,
    DATABASE_URL: o.databaseUrl,
    AUTH_SECRET: o.authSecret,
    PUBLIC_URL: o.publicUrl,
    NODE_ENV: o.dev ? "development" : "production",
  };
}

/** Readiness checks for waitFor: storage answers its health check with the key, the web serves its login page. */
export const storageIsHealthy = (servicesUrl: string, apiKey: string) => async () => {
  const res = await fetch(`${servicesUrl}/internal/storage/health`, {
    headers: { "x-api-key": apiKey },
    signal: AbortSignal.timeout(5_000),
  });
  await res.arrayBuffer();
  return res.status === 200;
};

export const webIsUp = (webUrl: string) => async () => {
  const res = await fetch(`${webUrl}/login`, { signal: AbortSignal.timeout(10_000) });
  await res.arrayBuffer();
  return res.status === 200;
};

/**
 * Depot on one machine: a database (DATABASE_URL, else embedded PostgreSQL), migrations, a first-run
 * seed, then the storage service and the web app as two processes that talk over HTTP.
 */
export async function startStack(options: StackOptions): Promise<RunningStack> {
  const log = options.log ?? console.log;
  mkdirSync(options.dataDir, { recursive: true, mode: 0o755 });
  const { apiKey, authSecret } = developmentSecrets(options.dataDir);

  const embedded = process.env.DATABASE_URL
    ? undefined
    : await startEmbeddedPostgres({
        dataDir: join(options.dataDir, "postgres"),
        port: Number(process.env.DEPOT_EMBEDDED_PG_PORT ?? 54329),
        log,
      });
  const databaseUrl = process.env.DATABASE_URL ?? (await ensureDatabase(embedded!.adminUrl, "depot"));
  const children: ChildProcess[] = [];
  const stop = async () => {
    await Promise.all(children.map(stopChild));
    await embedded?.stop();
  };

  try {
    await runMigrations(databaseUrl);
    const { db, close } = createDb(databaseUrl, { max: 1 });
    let seeded: string | null = null;
    try {
      if ((await countUsers(db)) === 0) {
        const result = await seed(db, {
          adminEmail: process.env.SEED_ADMIN_EMAIL || undefined,
          adminPassword: process.env.SEED_ADMIN_PASSWORD || undefined,
          production: process.env.NODE_ENV === "production",
        });
        seeded = result.adminEmail;
      }
    } finally {
      await close();
    }

    const storageRoot = process.env.STORAGE_CONFIG
      ? undefined
      : (process.env.NAS_WORKSPACE_PATH ?? join(options.dataDir, "storage"));
    if (storageRoot) mkdirSync(storageRoot, { recursive: true });
    const servicesUrl = `http://127.0.0.1:${options.servicesPort}`;
    const webUrl = `http://localhost:${options.webPort}`;
    const servicesWorkDir = options.servicesWorkDir ?? join(repoRoot, "apps/storage");
    const webWorkDir = options.webWorkDir ?? join(repoRoot, "apps/web");

    const storage = startProcess(
      "storage",
      servicesWorkDir,
      join(repoRoot, "apps/storage/src/main.ts"),
      [],
      { ...process.env, ...storageProcessEnv({ port: options.servicesPort, apiKey, databaseUrl, storageRoot }) },
      log,
    );
    children.push(storage);
    await waitFor("the storage service", storageIsHealthy(servicesUrl, apiKey), storage);

    const web = startProcess(
      "web",
      webWorkDir,
      join(repoRoot, "apps/web/server.ts"),
      options.mode === "dev" ? ["--dev"] : [],
      {
        ...process.env,
        ...webProcessEnv({
          port: options.webPort,
          host: process.env.HOST,
          servicesUrl,
          apiKey,
          databaseUrl,
          authSecret,
          publicUrl: process.env.PUBLIC_URL ?? webUrl,
          dev: options.mode === "dev",
        }),
      },
      log,
    );
    children.push(web);
    await waitFor("the web server", webIsUp(webUrl), web);

    const exited = new Promise<{ name: string; code: number | null }>((resolve) => {
      storage.once("exit", (code) => resolve({ name: "storage", code }));
      web.once("exit", (code) => resolve({ name: "web", code }));
    });
    return { webUrl, servicesUrl, databaseUrl, storageRoot, apiKey, processes: { web, storage }, seeded, exited, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

export { DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD };
