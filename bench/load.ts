/**
 * `pnpm bench:load [--seconds 120] [--workers 4] [--concurrency 16] [--budget-gib 40]`: Depot under mixed load.
 * `workers` client processes × `concurrency` upload loops through the web (64 at once by default), sizes from a
 * fixed weighted mix (1 KiB to 256 MiB, bench/load-worker.ts), for `seconds`; uploads in flight then finish. A few
 * tus uploads drop their connection mid-PATCH, ask HEAD and resume. Then: completed/failed, aggregate MB/s, 1 KiB
 * latency, both servers' peak RSS, and `verify-integrity --check-hashes` over everything stored, which must be clean.
 * Baselines measured first on the same idle stack: sequential 1 KiB uploads and one 256 MiB upload.
 * Not a CI test. MB = 10^6 bytes; with BENCH_JSON_OUT set, the figures are written there as JSON too.
 */
import { statfs, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createDb } from "@depot/db";
import type { ClientJob, ClientResult } from "./client";
import {
  childEnv,
  fixed,
  GiB,
  KiB,
  MB,
  MiB,
  machine,
  mbPerSecond,
  onCleanup,
  peakRssBytes,
  printTable,
  REPO_ROOT,
  runBenchmark,
  runJsonChild,
  sizeLabel,
  startChild,
  type TableRow,
  withTimeout,
  workFolder,
} from "./lib";
import { type LoadJob, type LoadResult, MIX, TUS_PAUSE_BYTES } from "./load-mix";
import { startDepot } from "./stack";

const HELP = `Usage: pnpm bench:load [--seconds 120] [--workers 4] [--concurrency 16] [--budget-gib 40]
       [--storage-threadpool N]   (diagnostic: UV_THREADPOOL_SIZE of the storage process; Node's default is 4)`;
const IDLE_SMALL_UPLOADS = 20;
const IDLE_LARGE_BYTES = 256 * MiB;
/** Time for the workers to compute their payload digests before the common start. */
const WORKER_PREPARE_MS = 8_000;
/** After the last start, in-flight uploads get this long to finish. */
const DRAIN_TIMEOUT_MS = 10 * 60_000;
const VERIFY_TIMEOUT_MS = 20 * 60_000;

function options() {
  const { values } = parseArgs({
    options: {
      seconds: { type: "string", default: "120" },
      workers: { type: "string", default: "4" },
      concurrency: { type: "string", default: "16" },
      "budget-gib": { type: "string", default: "40" },
      "storage-threadpool": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(HELP);
    process.exit(0);
  }
  const positive = (name: string, value: string) => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) {
      console.error(`--${name} must be a positive number, got "${value}"\n${HELP}`);
      process.exit(2);
    }
    return n;
  };
  return {
    seconds: positive("seconds", values.seconds),
    workers: Math.round(positive("workers", values.workers)),
    concurrency: Math.round(positive("concurrency", values.concurrency)),
    budgetBytes: positive("budget-gib", values["budget-gib"]) * GiB,
    /** A diagnostic: libuv's threadpool size for the storage process (Node's default is 4). */
    storageThreadpool: values["storage-threadpool"]
      ? Math.round(positive("storage-threadpool", values["storage-threadpool"]))
      : undefined,
  };
}

function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

interface IntegrityReport {
  checkedFiles: number;
  checkedHashes: boolean;
  problems: { kind: string; key: string }[];
  ok: boolean;
}

/**
 * Where small uploads wait: samples the servers' database sessions every `everyMs` and counts those waiting for the
 * audit chain's advisory lock (every audit row, in both servers, takes it for its transaction) among the active ones.
 */
function sampleDatabase(databaseUrl: string, everyMs = 500) {
  const connection = createDb(databaseUrl, { max: 1 });
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await connection.close();
  };
  onCleanup("database sampler", close);
  const samples: { lockWaits: number; active: number; clientWaits: number; walWaits: number }[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const [row] = await connection.sql<
        { lock_waits: number; active: number; client_waits: number; wal_waits: number }[]
      >`
        select count(*) filter (where wait_event_type = 'Lock' and wait_event = 'advisory')::int as lock_waits,
               count(*) filter (where state <> 'idle')::int as active,
               count(*) filter (where state <> 'idle' and wait_event = 'ClientRead')::int as client_waits,
               count(*) filter (where wait_event in ('WALSync', 'WALWrite'))::int as wal_waits
          from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()`.catch(() => []);
      if (row) {
        samples.push({
          lockWaits: row.lock_waits,
          active: row.active,
          clientWaits: row.client_waits,
          walWaits: row.wal_waits,
        });
      }
      await new Promise((resolveWait) => setTimeout(resolveWait, everyMs));
    }
  })();
  return async () => {
    running = false;
    await loop;
    await close();
    const mean = (values: number[]) => (values.length ? values.reduce((a, b) => a + b, 0) / values.length : 0);
    return {
      samples: samples.length,
      meanLockWaits: mean(samples.map((s) => s.lockWaits)),
      maxLockWaits: Math.max(0, ...samples.map((s) => s.lockWaits)),
      meanActive: mean(samples.map((s) => s.active)),
      /** In a transaction or statement, waiting for its Node process to send the next statement. */
      meanClientWaits: mean(samples.map((s) => s.clientWaits)),
      meanWalWaits: mean(samples.map((s) => s.walWaits)),
    };
  };
}

async function verifyIntegrity(databaseUrl: string, storageRoot: string) {
  let stdout = "";
  const child = startChild(
    "verify-integrity",
    [join(REPO_ROOT, "apps/storage/src/cli/verify-integrity.ts"), "--check-hashes", "--json"],
    childEnv({ DATABASE_URL: databaseUrl, NAS_WORKSPACE_PATH: storageRoot }),
    {
      cwd: join(REPO_ROOT, "apps/storage"),
      onStdout: (data) => {
        stdout += data.toString("utf8");
      },
    },
  );
  const startedAt = performance.now();
  const code = await withTimeout(child.closed, VERIFY_TIMEOUT_MS, "verify-integrity").finally(child.stop);
  const ms = performance.now() - startedAt;
  const start = stdout.indexOf("{");
  if (start < 0) throw new Error(`verify-integrity printed no report (exit ${code}): ${child.outputTail()}`);
  const report = JSON.parse(stdout.slice(start)) as IntegrityReport;
  return { code, ms, report };
}

async function main(): Promise<void> {
  const opts = options();
  const startedAt = performance.now();
  const workDir = await workFolder("depot-bench-load-");
  const host = await machine();
  const disk = await statfs(workDir);
  const freeBytes = disk.bavail * disk.bsize;
  // Never fill the disk: the byte budget stays well within what is free.
  const budgetBytes = Math.min(opts.budgetBytes, Math.max(0, freeBytes - 10 * GiB) / 2);
  const concurrent = opts.workers * opts.concurrency;
  console.log(`load benchmark: ${host.cores} cores, Node ${host.node}, work folder ${workDir}`);
  console.log(
    `${concurrent} concurrent uploads (${opts.workers} client processes × ${opts.concurrency}) through the web for ` +
      `${opts.seconds} s, byte budget ${fixed(budgetBytes / GiB, 1)} GiB; mix per 100 uploads: ` +
      MIX.map((m) => `${m.per100}× ${sizeLabel(m.bytes)}`).join(", "),
  );
  console.log(
    `MB = 10^6 bytes; plus ${Math.min(opts.workers, 4)} tus uploads of ${sizeLabel(TUS_PAUSE_BYTES)} paused mid-PATCH and resumed\n`,
  );

  const stack = await startDepot(
    workDir,
    opts.storageThreadpool ? { storageEnv: { UV_THREADPOOL_SIZE: String(opts.storageThreadpool) } } : {},
  );
  if (opts.storageThreadpool) console.log(`storage process with UV_THREADPOOL_SIZE=${opts.storageThreadpool}`);
  const clientEnv = { BENCH_API_KEY: stack.apiKey, BENCH_COOKIE: stack.cookie };
  const runClient = (label: string, job: ClientJob) =>
    runJsonChild<ClientResult>(`upload client (${label})`, "bench/client.ts", job, clientEnv, DRAIN_TIMEOUT_MS);
  const web = { route: "web", webUrl: stack.webUrl, cohortId: stack.cohortId } as const;

  // Idle baselines on the same stack (these also warm the route up).
  const idleSmall = await runClient("idle 1 KiB", { target: web, bytes: KiB, count: IDLE_SMALL_UPLOADS });
  const idleLarge = await runClient("idle 256 MiB", { target: web, bytes: IDLE_LARGE_BYTES });
  for (const upload of [...idleSmall.uploads, ...idleLarge.uploads]) {
    if (upload.status !== 201 || upload.sha256 !== upload.expectedSha256) {
      throw new Error(`idle baseline upload failed: ${upload.status} ${upload.error ?? "sha256 differs"}`);
    }
  }
  const idleSorted = idleSmall.uploads
    .slice(2) // the first requests open connections and load code
    .map((upload) => upload.ms)
    .sort((a, b) => a - b);
  const idleP50 = percentile(idleSorted, 50)!;
  const idleLargeRate = mbPerSecond(IDLE_LARGE_BYTES, idleLarge.uploads[0]!.ms);
  const rssBefore = { web: await peakRssBytes(stack.webPid()), storage: await peakRssBytes(stack.storagePid()) };
  console.log(
    `idle baselines: 1 KiB upload p50 ${fixed(idleP50, 1)} ms (${idleSorted.length} sequential), ` +
      `one 256 MiB upload ${fixed(idleLargeRate)} MB/s`,
  );

  const startAt = Date.now() + WORKER_PREPARE_MS;
  const stopAt = startAt + opts.seconds * 1000;
  const jobs: LoadJob[] = Array.from({ length: opts.workers }, (_, worker) => ({
    webUrl: stack.webUrl,
    cohortId: stack.cohortId,
    worker,
    concurrency: opts.concurrency,
    startAt,
    stopAt,
    budgetBytes: Math.floor(budgetBytes / opts.workers),
    tusPauses: worker < 4 ? 1 : 0,
  }));
  console.log(`running for ${opts.seconds} s …`);
  const stopSampling = sampleDatabase(stack.databaseUrl);
  const results = await Promise.all(
    jobs.map((job) =>
      runJsonChild<LoadResult>(
        `load worker ${job.worker}`,
        "bench/load-worker.ts",
        job,
        clientEnv,
        WORKER_PREPARE_MS + opts.seconds * 1000 + DRAIN_TIMEOUT_MS,
      ),
    ),
  );
  const database = await stopSampling();
  const rss = { web: await peakRssBytes(stack.webPid()), storage: await peakRssBytes(stack.storagePid()) };

  const completed = results.reduce((sum, r) => sum + r.completed, 0);
  const failed = results.reduce((sum, r) => sum + r.failed, 0);
  const bytes = results.reduce((sum, r) => sum + r.bytesCompleted, 0);
  const endAt = Math.max(...results.map((r) => r.lastEndAt));
  const elapsedMs = endAt - startAt;
  const aggregate = mbPerSecond(bytes, elapsedMs);
  const small = results.flatMap((r) => r.smallLatenciesMs).sort((a, b) => a - b);
  const p50 = percentile(small, 50);
  const p95 = percentile(small, 95);
  const tus = {
    attempted: results.reduce((sum, r) => sum + r.tus.attempted, 0),
    resumed: results.reduce((sum, r) => sum + r.tus.resumed, 0),
    completed: results.reduce((sum, r) => sum + r.tus.completed, 0),
    retries: results.reduce((sum, r) => sum + r.tus.retries, 0),
    refusals: results.flatMap((r) => r.tus.refusals),
  };
  const budgetReached = results.some((r) => r.budgetReached);

  console.log(
    `\ncompleted ${completed}, failed ${failed}; ${fixed(bytes / GiB, 2)} GiB in ${fixed(elapsedMs / 1000, 1)} s ` +
      `(last start at ${opts.seconds} s, then in-flight uploads finished) = ${fixed(aggregate)} MB/s aggregate` +
      (budgetReached ? "; byte budget reached before the time was up" : ""),
  );
  const bySize = [...MIX.map((m) => m.bytes)].map((size) => {
    const sum = results.reduce(
      (acc, r) => {
        const entry = r.bySize[size];
        return { completed: acc.completed + (entry?.completed ?? 0), failed: acc.failed + (entry?.failed ?? 0) };
      },
      { completed: 0, failed: 0 },
    );
    return { size, ...sum };
  });
  console.log(
    `by size (web multipart): ${bySize.map((s) => `${sizeLabel(s.size)} ${s.completed}${s.failed ? `/${s.failed} failed` : ""}`).join(", ")}`,
  );
  console.log(
    `tus ${sizeLabel(TUS_PAUSE_BYTES)} paused mid-PATCH: ${tus.attempted} started, ${tus.resumed} resumed after HEAD, ` +
      `${tus.completed} completed with matching sha256; ${tus.retries} resumed PATCH(es) refused while the server ` +
      `still wound the dropped one down, then retried${tus.refusals.length ? ` (${[...new Set(tus.refusals)].join(", ")})` : ""}`,
  );
  console.log(
    `1 KiB uploads under load: p50 ${p50 === null ? "-" : fixed(p50, 1)} ms, p95 ${p95 === null ? "-" : fixed(p95, 1)} ms ` +
      `(${small.length} uploads; idle p50 ${fixed(idleP50, 1)} ms)`,
  );
  console.log(
    `peak RSS (VmHWM at the end): web ${fixed(rss.web / MB)} MB, storage ${fixed(rss.storage / MB)} MB ` +
      `(before the load: web ${fixed(rssBefore.web / MB)} MB, storage ${fixed(rssBefore.storage / MB)} MB)`,
  );
  console.log(
    `database sessions of both servers during the load (sampled every 0.5 s): ${fixed(database.meanActive, 1)} ` +
      `active on average, of which ${fixed(database.meanLockWaits, 1)} waiting for the audit chain's advisory lock ` +
      `(at most ${database.maxLockWaits}), ${fixed(database.meanClientWaits, 1)} waiting for their Node process to ` +
      `send the next statement, ${fixed(database.meanWalWaits, 1)} flushing WAL`,
  );
  const failures = results.flatMap((r) => r.failures);
  for (const failure of failures.slice(0, 10)) {
    console.log(`   failed: ${failure.route} ${sizeLabel(failure.bytes)} status ${failure.status} ${failure.error}`);
  }

  console.log("\nverify-integrity --check-hashes …");
  const integrity = await verifyIntegrity(stack.databaseUrl, stack.storageRoot);
  const problems = integrity.report.problems;
  console.log(
    integrity.report.ok
      ? `verify-integrity: clean, ${integrity.report.checkedFiles} stored files, sizes and sha256 match, no untracked ` +
          `objects (${fixed(integrity.ms / 1000, 1)} s)`
      : `verify-integrity: ${problems.length} problem(s) in ${integrity.report.checkedFiles} files: ` +
          problems
            .slice(0, 5)
            .map((p) => `${p.kind} ${p.key}`)
            .join("; "),
  );

  const table: TableRow[] = [
    { figure: "uploads completed", unit: "count", depot: completed, baseline: null, ratio: null },
    { figure: "uploads failed", unit: "count", depot: failed, baseline: null, ratio: null },
    {
      figure: `aggregate under load vs one ${sizeLabel(IDLE_LARGE_BYTES)} upload alone`,
      unit: "MB/s",
      depot: aggregate,
      baseline: idleLargeRate,
      ratio: aggregate / idleLargeRate,
    },
    {
      figure: "1 KiB upload p50 under load vs idle",
      unit: "ms",
      depot: p50,
      baseline: idleP50,
      ratio: p50 === null ? null : p50 / idleP50,
    },
    {
      figure: "1 KiB upload p95 under load vs idle p50",
      unit: "ms",
      depot: p95,
      baseline: idleP50,
      ratio: p95 === null ? null : p95 / idleP50,
    },
    {
      figure: "web peak RSS after load vs before",
      unit: "MB",
      depot: rss.web / MB,
      baseline: rssBefore.web / MB,
      ratio: rss.web / rssBefore.web,
    },
    {
      figure: "storage peak RSS after load vs before",
      unit: "MB",
      depot: rss.storage / MB,
      baseline: rssBefore.storage / MB,
      ratio: rss.storage / rssBefore.storage,
    },
  ];
  printTable(table);
  const totalMs = performance.now() - startedAt;
  console.log(`\ntotal ${fixed(totalMs / 1000)} s`);

  const jsonOut = process.env.BENCH_JSON_OUT;
  if (jsonOut) {
    const output = {
      benchmark: "load",
      measuredAt: new Date().toISOString(),
      machine: host,
      mbIs: "10^6 bytes",
      totalMs,
      options: { ...opts, budgetBytes },
      table,
      details: {
        concurrent,
        mix: MIX,
        completed,
        failed,
        failures: failures.slice(0, 20),
        bytesCompleted: bytes,
        elapsedMs,
        aggregateMBps: aggregate,
        budgetReached,
        bySize,
        smallUploads: small.length,
        smallP50Ms: p50,
        smallP95Ms: p95,
        idleSmallP50Ms: idleP50,
        idleLargeMBps: idleLargeRate,
        tus,
        database,
        peakRssBytes: rss,
        peakRssBeforeLoadBytes: rssBefore,
        integrity: {
          ok: integrity.report.ok,
          exitCode: integrity.code,
          checkedFiles: integrity.report.checkedFiles,
          checkedHashes: integrity.report.checkedHashes,
          problems: problems.length,
          ms: integrity.ms,
        },
      },
    };
    await writeFile(jsonOut, `${JSON.stringify(output, null, 2)}\n`);
    console.log(`results written to ${jsonOut}`);
  }
  if (!integrity.report.ok || integrity.code !== 0) throw new Error("verify-integrity found problems");
}

runBenchmark("load benchmark", main);
