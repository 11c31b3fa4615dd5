import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createDb, createUser, ensureCohort, setMembership } from "@depot/db";
import { ADMIN, type RunningStack, repoRoot, signIn, startStack } from "../../scripts/stack";
import { E2E_CLI_PORTS } from "../ports";

export { ADMIN };
export const PASSWORD = "cli-password-123";
export const PEOPLE = {
  manager: { email: "manager@example.org", password: PASSWORD },
  viewer: { email: "viewer@example.org", password: PASSWORD },
};

/**
 * Both servers as real processes (the code pnpm start uses) on a fresh database, with an administrator,
 * a manager of cohorts A and B, and a viewer of A; and the CLI packed and installed with `npm i -g` into a
 * folder of its own, as a user would install it.
 */
export async function startCliStack() {
  // A server left on a port would answer the readiness checks in place of ours.
  await Promise.all([portIsFree(E2E_CLI_PORTS.web), portIsFree(E2E_CLI_PORTS.services)]);
  const root = mkdtempSync(join(tmpdir(), "depot-cli-"));
  chmodSync(root, 0o755);
  const logs: string[] = [];
  const log = (line: string) => {
    logs.push(line);
    if (process.env.CLI_VERBOSE) console.log(line);
  };
  let stack: RunningStack | undefined;
  let closeDb = async () => {};
  const stop = async () => {
    await closeDb();
    await stack?.stop();
    rmSync(root, { recursive: true, force: true });
  };
  try {
    const bin = installPackedCli(root);
    stack = await startStack({
      dataDir: join(root, "data"),
      database: "fresh",
      ports: { web: E2E_CLI_PORTS.web, storage: E2E_CLI_PORTS.services },
      storageEnv: { CLEANUP_INTERVAL_MINUTES: "0" },
      log,
    });
    const { db, sql, close } = createDb(stack.databaseUrl, { max: 2 });
    closeDb = close;
    const a = (await ensureCohort(db, { name: "Demo Cohort A" })).cohort;
    const b = (await ensureCohort(db, { name: "Demo Cohort B" })).cohort;
    const manager = await createUser(db, { email: PEOPLE.manager.email, name: "Maria Manager", password: PASSWORD });
    const viewer = await createUser(db, { email: PEOPLE.viewer.email, name: "Vic Viewer", password: PASSWORD });
    await setMembership(db, { userId: manager.id, cohortId: a.id, role: "manager" });
    await setMembership(db, { userId: manager.id, cohortId: b.id, role: "manager" });
    await setMembership(db, { userId: viewer.id, cohortId: a.id, role: "viewer" });
    const webUrl = stack.webUrl;
    return {
      root,
      webUrl,
      db,
      sql,
      logs,
      bin,
      cohorts: { a, b },
      users: { manager, viewer },
      signIn: (who: { email: string; password: string }) => signIn(webUrl, who),
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
  } catch (error) {
    console.error(logs.slice(-30).join("\n"));
    await stop();
    throw error;
  }
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
