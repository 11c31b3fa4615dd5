import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createDb, createUser, ensureCohort, seed, setMembership } from "@depot/db";
import { createTestDatabase } from "@depot/db/testing";
import {
  repoRoot,
  startProcess,
  stopChild,
  storageIsHealthy,
  storageProcessEnv,
  waitFor,
  webIsUp,
  webProcessEnv,
} from "../../scripts/stack";

export const ADMIN = { email: "ewestlund@jhu.edu", password: "admin123" };
export const PASSWORD = "cli-password-123";
export const PEOPLE = {
  manager: { email: "manager@example.org", password: PASSWORD },
  viewer: { email: "viewer@example.org", password: PASSWORD },
};

/** This suite's ports: E2E_PORT_BASE + 10 and + 11, apart from the Playwright stack's base … base + 2. */
const base = Number(process.env.E2E_PORT_BASE ?? 18000);
export const CLI_PORTS = { web: base + 10, services: base + 11 };

/**
 * Both servers as real processes (the code pnpm start uses) on a fresh database, with an administrator,
 * a manager of cohorts A and B, and a viewer of A; and the CLI packed and installed with `npm i -g` into a
 * folder of its own, as a user would install it.
 */
export async function startCliStack() {
  // A server left on a port would answer the readiness checks in place of ours.
  await Promise.all([portIsFree(CLI_PORTS.web), portIsFree(CLI_PORTS.services)]);
  const root = mkdtempSync(join(tmpdir(), "depot-cli-"));
  chmodSync(root, 0o755);
  const bin = installPackedCli(root);
  const database = await createTestDatabase();
  const { db, sql, close } = createDb(database.url, { max: 2 });
  await seed(db);
  const a = (await ensureCohort(db, { name: "Demo Cohort A" })).cohort;
  const b = (await ensureCohort(db, { name: "Demo Cohort B" })).cohort;
  const manager = await createUser(db, { email: PEOPLE.manager.email, name: "Maria Manager", password: PASSWORD });
  const viewer = await createUser(db, { email: PEOPLE.viewer.email, name: "Vic Viewer", password: PASSWORD });
  await setMembership(db, { userId: manager.id, cohortId: a.id, role: "manager" });
  await setMembership(db, { userId: manager.id, cohortId: b.id, role: "manager" });
  await setMembership(db, { userId: viewer.id, cohortId: a.id, role: "viewer" });

  const storageRoot = join(root, "storage");
  mkdirSync(storageRoot, { recursive: true });
  const apiKey = randomBytes(24).toString("hex");
  const authSecret = randomBytes(32).toString("hex");
  const servicesUrl = `http://127.0.0.1:${CLI_PORTS.services}`;
  const webUrl = `http://localhost:${CLI_PORTS.web}`;
  const logs: string[] = [];
  const log = (line: string) => {
    logs.push(line);
    if (process.env.CLI_VERBOSE) console.log(line);
  };
  const children: ChildProcess[] = [];
  const stop = async () => {
    await Promise.all(children.map(stopChild));
    await close();
    await database.drop();
    rmSync(root, { recursive: true, force: true });
  };
  try {
    const storage = startProcess(
      "storage",
      join(repoRoot, "apps/storage"),
      join(repoRoot, "apps/storage/src/main.ts"),
      [],
      {
        ...process.env,
        ...storageProcessEnv({ port: CLI_PORTS.services, apiKey, databaseUrl: database.url, storageRoot }),
        CLEANUP_INTERVAL_MINUTES: "0",
      },
      log,
    );
    children.push(storage);
    await waitFor("storage", storageIsHealthy(servicesUrl, apiKey), storage, 60_000);
    const web = startProcess(
      "web",
      join(repoRoot, "apps/web"),
      join(repoRoot, "apps/web/server.ts"),
      [],
      {
        ...process.env,
        ...webProcessEnv({
          port: CLI_PORTS.web,
          servicesUrl,
          apiKey,
          databaseUrl: database.url,
          authSecret,
          publicUrl: webUrl,
        }),
      },
      log,
    );
    children.push(web);
    await waitFor("web", webIsUp(webUrl), web, 90_000);
  } catch (error) {
    console.error(logs.slice(-30).join("\n"));
    await stop();
    throw error;
  }

  return {
    root,
    webUrl,
    db,
    sql,
    logs,
    bin,
    cohorts: { a, b },
    users: { manager, viewer },
    async signIn(who: { email: string; password: string }): Promise<string> {
      const res = await fetch(`${webUrl}/api/session`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(who),
      });
      if (res.status !== 200) throw new Error(`sign-in failed: ${res.status}`);
      return (res.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
    },
    /** A token made through the API with a session, as the Tokens page does. */
    async createToken(
      cookie: string,
      body: { name: string; permission: string; cohortId?: string | null; expiresInDays?: number },
    ) {
      const res = await fetch(`${webUrl}/api/tokens`, {
        method: "POST",
        headers: { cookie, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      const data = (await res.json()) as { secret: string; token: { id: string } };
      if (res.status !== 201) throw new Error(`token creation failed: ${res.status} ${JSON.stringify(data)}`);
      return { secret: data.secret, id: data.token.id };
    },
    stop,
  };
}

function portIsFree(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", () =>
      reject(new Error(`port ${port} is taken: stop what listens there or set E2E_PORT_BASE`)),
    );
    server.listen(port, "127.0.0.1", () => server.close(() => resolve()));
  });
}

export type CliStack = Awaited<ReturnType<typeof startCliStack>>;

/** `pnpm pack` the CLI (its prepack builds the one-file bundle) and `npm i -g` the tarball into root/global. */
function installPackedCli(root: string): string {
  const cliDir = join(repoRoot, "apps/cli");
  const packDir = join(root, "pack");
  mkdirSync(packDir);
  const packed = spawnSync("pnpm", ["pack", "--pack-destination", packDir], { cwd: cliDir, encoding: "utf8" });
  if (packed.status !== 0) throw new Error(`pnpm pack failed: ${packed.stderr}${packed.stdout}`);
  const tarball = readdirSync(packDir).find((f) => f.endsWith(".tgz"));
  if (!tarball) throw new Error("pnpm pack wrote no tarball");
  const prefix = join(root, "global");
  const installed = spawnSync("npm", ["i", "-g", "--prefix", prefix, "--offline", join(packDir, tarball)], {
    encoding: "utf8",
  });
  if (installed.status !== 0) throw new Error(`npm i -g failed: ${installed.stderr}${installed.stdout}`);
  return join(prefix, "bin", "depot");
}

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the installed `depot` with a private HOME (config and state folders under it). */
export function runCli(
  stack: CliStack,
  home: string,
  args: string[],
  options: {
    env?: Record<string, string>;
    input?: string;
    onStderr?: (text: string, child: ChildProcess) => void;
  } = {},
): Promise<CliRun> {
  const child = spawn(stack.bin, args, {
    env: {
      PATH: process.env.PATH ?? "",
      HOME: home,
      DEPOT_URL: stack.webUrl,
      ...options.env,
    },
    cwd: home,
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (c: Buffer) => {
    stdout += c.toString();
  });
  child.stderr.on("data", (c: Buffer) => {
    stderr += c.toString();
    options.onStderr?.(stderr, child);
  });
  child.stdin.end(options.input ?? "");
  return new Promise((resolve) => {
    child.once("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}
