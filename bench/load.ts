/**
 * `pnpm bench:load [--seconds 120] [--workers 4] [--concurrency 16] [--budget-gib 40]`: Depot under mixed load.
 * `workers` client processes × `concurrency` upload loops through the web (64 at once by default), sizes from a
 * fixed weighted mix (1 KiB to 256 MiB), for `seconds`; uploads in flight then finish. Then: completed/failed,
 * aggregate MB/s, 1 KiB latency, both servers' peak RSS, and `verify-integrity --check-hashes` over everything stored, which must be clean.
 * Baselines measured first on the same idle stack: sequential 1 KiB uploads and one 256 MiB upload.
 * Not a CI test. Writes bench/results/load.json.
 */
import { statfs } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { createDb } from "@depot/db";
import { repoRoot } from "../scripts/stack";
import {
  type ClientRunner,
  checkStored,
  figure,
  GiB,
  KiB,
  MB,
  MiB,
  mbPerSecond,
  numericOptions,
  onCleanup,
  percentile,
  runBenchmark,
  runJson,
  seededRandom,
  serverRss,
  sizeLabel,
  stored,
  workFolder,
  writeResult,
} from "./lib";
import { startDepot } from "./stack";

const HELP = "Usage: pnpm bench:load [--seconds 120] [--workers 4] [--concurrency 16] [--budget-gib 40]";
const IDLE_SMALL_UPLOADS = 20;
const IDLE_LARGE_BYTES = 256 * MiB;
/** Time for the workers to compute their payload digests before the common start. */
const WORKER_PREPARE_MS = 8_000;
/** After the last start, in-flight uploads get this long to finish. */
const DRAIN_TIMEOUT_MS = 10 * 60_000;
const VERIFY_TIMEOUT_MS = 20 * 60_000;

/** Size and how many of every 100 uploads have it: many tiny files, some medium, a few large. */
const MIX = [
  { bytes: KiB, per100: 60 },
  { bytes: MiB, per100: 14 },
  { bytes: 4 * MiB, per100: 10 },
  { bytes: 16 * MiB, per100: 8 },
  { bytes: 64 * MiB, per100: 6 },
  { bytes: 256 * MiB, per100: 2 },
];

/** The mix in a deterministic shuffle, so every run sends the same sequence. */
function sequence(seed: number): number[] {
  const sizes = MIX.flatMap(({ bytes, per100 }) => Array.from({ length: per100 }, () => bytes));
  const random = seededRandom(seed);
  for (let i = sizes.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [sizes[i], sizes[j]] = [sizes[j]!, sizes[i]!];
  }
  return sizes;
}

/**
 * Where small uploads wait: samples the servers' database sessions every 0.5 s, counting those waiting for the audit
 * chain's advisory lock (every audit row, in both servers, takes it for its transaction), for their Node process to
 * send the next statement (ClientRead) and for WAL, among the active ones.
 */
function sampleDatabase(databaseUrl: string) {
  const connection = createDb(databaseUrl, { max: 1 });
  onCleanup("database sampler", () => connection.close());
  const samples: Record<string, number>[] = [];
  let running = true;
  const loop = (async () => {
    for (; running; await sleep(500)) {
      const [row] = await connection.sql<Record<string, number>[]>`
        select count(*) filter (where wait_event_type = 'Lock' and wait_event = 'advisory')::int as "lockWaits",
               count(*) filter (where state <> 'idle')::int as "active",
               count(*) filter (where state <> 'idle' and wait_event = 'ClientRead')::int as "clientWaits",
               count(*) filter (where wait_event in ('WALSync', 'WALWrite'))::int as "walWaits"
          from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()`.catch(() => []);
      if (row) samples.push(row);
    }
  })();
  return async () => {
    running = false;
    await loop;
    const mean = (key: string) => samples.reduce((sum, s) => sum + (s[key] ?? 0), 0) / Math.max(1, samples.length);
    const keys = ["lockWaits", "active", "clientWaits", "walWaits"];
    const means = Object.fromEntries(keys.map((key) => [`mean${key[0]!.toUpperCase()}${key.slice(1)}`, mean(key)]));
    return { samples: samples.length, ...means, maxLockWaits: Math.max(0, ...samples.map((s) => s.lockWaits ?? 0)) };
  };
}

async function main(): Promise<void> {
  const opts = numericOptions({ seconds: 120, workers: 4, concurrency: 16, "budget-gib": 40 }, HELP);
  const workDir = await workFolder("depot-bench-load-");
  const disk = await statfs(workDir);
  // Never fill the disk: the byte budget stays well within what is free.
  const budgetBytes = Math.min(opts["budget-gib"] * GiB, Math.max(0, disk.bavail * disk.bsize - 10 * GiB) / 2);
  const concurrent = opts.workers * opts.concurrency;
  console.log(`${concurrent} concurrent uploads through the web for ${opts.seconds} s`);

  const stack = await startDepot(workDir);
  const clientTimeoutMs = WORKER_PREPARE_MS + opts.seconds * 1000 + DRAIN_TIMEOUT_MS;
  const runClient: ClientRunner = (label, job) => stack.runClient(label, job, clientTimeoutMs);
  const web = { route: "web", webUrl: stack.webUrl, cohortId: stack.cohortId } as const;

  // Idle baselines on the same stack (these also warm the route up).
  const idleSmall = await runClient("idle 1 KiB", { target: web, bytes: KiB, count: IDLE_SMALL_UPLOADS });
  const idleLarge = await runClient("idle 256 MiB", { target: web, bytes: IDLE_LARGE_BYTES });
  const idleLargeMs = checkStored("idle 256 MiB", idleLarge).ms;
  checkStored("idle 1 KiB", idleSmall);
  // The first requests open connections and load code.
  const idleMs = idleSmall.uploads.slice(2).map((upload) => upload.ms);
  const idleP50 = percentile(idleMs, 50)!;
  const peakRss = async () => ({ web: await serverRss(stack.webPid()), storage: await serverRss(stack.storagePid()) });
  const rssBefore = await peakRss();

  const startAt = Date.now() + WORKER_PREPARE_MS;
  const stopAt = startAt + opts.seconds * 1000;
  const stopSampling = sampleDatabase(stack.databaseUrl);
  const workerBudget = Math.floor(budgetBytes / opts.workers);
  const results = await Promise.all(
    Array.from({ length: opts.workers }, (_, worker) => {
      // Each worker's files differ from the others'.
      const offset = worker * 4099 * KiB;
      const mix = { sizes: sequence(0x5eed + worker), startAt, stopAt, budgetBytes: workerBudget, offset };
      return runClient(`load worker ${worker}`, { target: web, bytes: KiB, concurrency: opts.concurrency, mix });
    }),
  );
  const database = await stopSampling();
  const rss = await peakRss();

  const uploads = results.flatMap((r) => r.uploads);
  const done = uploads.filter(stored);
  const failures = uploads.filter((u) => !stored(u)).map(({ bytes, status, error }) => ({ bytes, status, error }));
  const bytes = done.reduce((total, u) => total + u.bytes, 0);
  const elapsedMs = Math.max(...uploads.map((u) => u.endedAt)) - startAt;
  const small = done.filter((u) => u.bytes === KiB).map((u) => u.ms);
  const counted = (size: number, ok: boolean) => uploads.filter((u) => u.bytes === size && stored(u) === ok).length;
  const bySize = Object.fromEntries(
    MIX.map(({ bytes: size }) => [sizeLabel(size), { completed: counted(size, true), failed: counted(size, false) }]),
  );
  for (const failure of failures.slice(0, 10)) console.log(`   failed: ${JSON.stringify(failure)}`);

  console.log("verify-integrity --check-hashes …");
  const integrity = await runJson<{ checkedFiles: number; problems: { kind: string; key: string }[]; ok: boolean }>(
    "verify-integrity",
    [join(repoRoot, "apps/storage/src/cli/verify-integrity.ts"), "--check-hashes", "--json"],
    { DATABASE_URL: stack.databaseUrl, NAS_WORKSPACE_PATH: stack.storageRoot },
    VERIFY_TIMEOUT_MS,
    join(repoRoot, "apps/storage"),
  );
  const idle = { vs: ["p50 of sequential 1 KiB uploads, idle", idleP50] } as const;
  const before = (name: "web" | "storage") => ({ vs: [`${name} before the load`, rssBefore[name] / MB] }) as const;
  const single = `one ${sizeLabel(IDLE_LARGE_BYTES)} upload alone on the same stack`;
  const alone = { vs: [single, mbPerSecond(IDLE_LARGE_BYTES, idleLargeMs)] } as const;
  const aggregate = mbPerSecond(bytes, elapsedMs);
  const { problems, checkedFiles } = integrity.json;
  await writeResult(
    "load",
    [
      figure("load.completed", "uploads completed", "count", done.length),
      figure("load.failed", "uploads failed", "count", failures.length),
      figure("load.aggregate", `${concurrent} concurrent mixed uploads, aggregate`, "MB/s", aggregate, alone),
      figure("load.small.p50", "1 KiB upload p50 under load", "ms", percentile(small, 50), idle),
      figure("load.small.p95", "1 KiB upload p95 under load", "ms", percentile(small, 95), idle),
      figure("load.rss.web", "web peak RSS after the load", "MB", rss.web / MB, before("web")),
      figure("load.rss.storage", "storage peak RSS after the load", "MB", rss.storage / MB, before("storage")),
      figure("load.integrity", "verify-integrity --check-hashes: problems", "count", problems.length, {
        vs: ["files checked", checkedFiles],
      }),
    ],
    {
      concurrent,
      mix: MIX,
      bySize,
      failures: failures.slice(0, 20),
      bytesCompleted: bytes,
      elapsedMs,
      smallUploads: small.length,
      database,
      integrity: { ...integrity.json, problems: problems.slice(0, 20), exitCode: integrity.code, ms: integrity.ms },
    },
    { ...opts, budgetBytes },
  );
  if (!integrity.json.ok || integrity.code !== 0) throw new Error("verify-integrity found problems");
}

runBenchmark("load benchmark", main);
