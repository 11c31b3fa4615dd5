/**
 * `pnpm bench:storage`: throughput and memory of the storage service against this machine's own limits, measured in
 * one run. Not a test: it prints figures (MB = 10^6 bytes) and, with BENCH_JSON_OUT set, writes them there as JSON.
 * Uses DATABASE_URL's server when set (a fresh database, dropped at the end), otherwise a throwaway embedded
 * PostgreSQL. Everything it starts or writes goes away at the end, on failure and on Ctrl-C too.
 */
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { mkdir, open, rm, writeFile } from "node:fs/promises";
import { cpus } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { DeleteObjectCommand, HeadObjectCommand } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { buildStorageKey } from "@depot/contract";
import { createDb, createFileRecord, type Database, ensureCohort } from "@depot/db";
import { createS3Client, S3_UPLOAD_PART_BYTES, S3_UPLOAD_QUEUE_SIZE } from "../apps/storage/src/drivers/s3";
import { type RunningRgw, startRgw } from "../scripts/rgw";
import {
  childEnv,
  cpuSeconds,
  fixed,
  freePort,
  GiB,
  MB,
  MiB,
  mbPerSecond,
  onCleanup,
  peakRssBytes,
  printTable,
  provisionDatabase,
  REPO_ROOT,
  report,
  runBenchmark,
  runJsonChild,
  sizeLabel,
  startChild,
  type TableRow,
  waitUntil,
  workFolder,
} from "./lib";
import { PAYLOAD_CHUNK_BYTES, payloadChunk, payloadPieces, payloadSha256 } from "./payload";
import type { StorageClientJob, StorageClientResult } from "./storage-client";

const STORAGE_APP_DIR = join(REPO_ROOT, "apps/storage");
type S3Client = ReturnType<typeof createS3Client>;

const UPLOAD_BYTES = GiB;
const RSS_SMALL_UPLOAD_BYTES = 256 * MiB;
const RSS_LARGE_UPLOAD_BYTES = 2 * GiB;
const TUS_CHUNK_BYTES = 8 * MiB;
/** The direct upload uses exactly the storage service's multipart settings. */
const S3_PART_BYTES = S3_UPLOAD_PART_BYTES;
const S3_QUEUE_SIZE = S3_UPLOAD_QUEUE_SIZE;
/** Each side of the S3 pair runs this often, alternating, and counts its best run (the machine is shared). */
const S3_ROUNDS = 2;
const CHILD_START_TIMEOUT_MS = 30_000;
const CLIENT_TIMEOUT_MS = 5 * 60_000;
/** Generated per run, handed to children in their environment only, never printed. */
const API_KEY = randomBytes(24).toString("hex");

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
    { cwd: STORAGE_APP_DIR },
  );
  const url = `http://127.0.0.1:${port}`;
  await waitUntil(
    label,
    child,
    async () => {
      const res = await fetch(`${url}/internal/storage/health`, { headers: { "x-api-key": API_KEY } });
      await res.arrayBuffer();
      return res.status === 200;
    },
    CHILD_START_TIMEOUT_MS,
  );
  return { url, pid: child.pid, stop: child.stop };
}

const runClient = (job: StorageClientJob) =>
  runJsonChild<StorageClientResult>(
    `the ${job.mode} upload client`,
    "bench/storage-client.ts",
    job,
    { BENCH_API_KEY: API_KEY },
    CLIENT_TIMEOUT_MS,
  );

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
function checkStored(what: string, result: StorageClientResult, bytes: number, chunk: Buffer): void {
  if (result.status < 200 || result.status > 299) {
    throw new Error(`${what}: the service answered ${result.status} (${result.error ?? "no error code"})`);
  }
  if (result.sha256 !== expectedSha256(bytes, chunk)) {
    throw new Error(`${what}: the service reported a different sha256 than the bytes sent`);
  }
}

/** A RADOS Gateway (Ceph) for the S3 pair, stopped with everything else; memory for 1 GiB objects and their copies. */
async function startGateway(): Promise<RunningRgw> {
  const rgw = await startRgw({ bucket: "depot-bench", memstoreBytes: 6 * GiB });
  onCleanup("RADOS Gateway", () => rgw.stop());
  return rgw;
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

async function directS3Upload(
  client: S3Client,
  bucket: string,
  key: string,
  bytes: number,
  chunk: Buffer,
): Promise<number> {
  const startedAt = performance.now();
  await new Upload({
    client,
    params: { Bucket: bucket, Key: key, Body: Readable.from(payloadPieces(bytes, chunk)) },
    partSize: S3_PART_BYTES,
    queueSize: S3_QUEUE_SIZE,
  }).done();
  const ms = performance.now() - startedAt;
  const stored = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
  if (stored.ContentLength !== bytes) throw new Error(`S3 stored ${stored.ContentLength} bytes, not ${bytes}`);
  await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
  return ms;
}

/**
 * 1 GiB through the storage service onto an S3 disk against lib-storage's Upload of the same bytes straight to the
 * same bucket with the same part size and queue, alternating, best of S3_ROUNDS each.
 */
async function s3Pair(databaseUrl: string, chunk: Buffer) {
  const rgw = await startGateway();
  const s3Disk = rgw.disk();
  const s3 = createS3Client(s3Disk);
  onCleanup("S3 client", async () => s3.destroy());
  const service = await startService("storage service (s3 disk)", databaseUrl, {
    STORAGE_CONFIG: JSON.stringify({ disks: { workspace: s3Disk } }),
  });
  const directMs: number[] = [];
  const serviceMs: number[] = [];
  // CPU seconds per 1 GiB of each process on the path, summed over the rounds: where the time goes.
  const cpu = { direct: { bench: 0, gateway: 0, osd: 0 }, service: { service: 0, gateway: 0, osd: 0 } };
  const { gateway, osd } = rgw.pids();
  const cpuOf = async (pid: number | null) => (pid ? cpuSeconds(pid) : 0);
  try {
    for (let round = 0; round < S3_ROUNDS; round++) {
      let before = { self: process.cpuUsage(), gateway: await cpuOf(gateway), osd: await cpuOf(osd) };
      directMs.push(await directS3Upload(s3, rgw.bucket, `bench/direct-${round}`, UPLOAD_BYTES, chunk));
      const self = process.cpuUsage(before.self);
      cpu.direct.bench += (self.user + self.system) / 1e6 / S3_ROUNDS;
      cpu.direct.gateway += ((await cpuOf(gateway)) - before.gateway) / S3_ROUNDS;
      cpu.direct.osd += ((await cpuOf(osd)) - before.osd) / S3_ROUNDS;
      before = { self: process.cpuUsage(), gateway: await cpuOf(gateway), osd: await cpuOf(osd) };
      const serviceBefore = await cpuSeconds(service.pid);
      const viaService = await runClient({
        mode: "plain",
        baseUrl: service.url,
        bytes: UPLOAD_BYTES,
        key: `bench/s3-${round}`,
      });
      checkStored("upload to the s3 disk", viaService, UPLOAD_BYTES, chunk);
      serviceMs.push(viaService.ms);
      cpu.service.service += ((await cpuSeconds(service.pid)) - serviceBefore) / S3_ROUNDS;
      cpu.service.gateway += ((await cpuOf(gateway)) - before.gateway) / S3_ROUNDS;
      cpu.service.osd += ((await cpuOf(osd)) - before.osd) / S3_ROUNDS;
      await s3.send(new DeleteObjectCommand({ Bucket: rgw.bucket, Key: `${s3Disk.prefix}bench/s3-${round}` }));
    }
  } finally {
    await service.stop();
  }
  const runs = (ms: number[]) => ms.map((m) => fixed(mbPerSecond(UPLOAD_BYTES, m))).join(", ");
  const directRate = report(
    "6a. lib-storage Upload straight to RADOS Gateway",
    UPLOAD_BYTES,
    Math.min(...directMs),
    `part ${S3_PART_BYTES / MiB} MiB, queue ${S3_QUEUE_SIZE}; runs ${runs(directMs)} MB/s`,
  );
  const s3ServiceRate = report(
    "6b. upload to the service (s3 disk on RADOS Gateway)",
    UPLOAD_BYTES,
    Math.min(...serviceMs),
    `sha256 ok; vs direct: ${fixed(mbPerSecond(UPLOAD_BYTES, Math.min(...serviceMs)) / directRate, 2)}; runs ${runs(serviceMs)} MB/s`,
  );
  const line = (o: Record<string, number>) =>
    Object.entries(o)
      .map(([name, seconds]) => `${name} ${fixed(seconds, 1)} s`)
      .join(" + ");
  console.log(`   CPU per 1 GiB, direct: ${line(cpu.direct)}; via service: ${line(cpu.service)}`);
  return { directRate, s3ServiceRate, directMs, serviceMs, cpu };
}

async function main(): Promise<void> {
  const startedAt = performance.now();
  const workDir = await workFolder("depot-bench-");
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
  if (process.env.BENCH_STORAGE_ONLY === "s3") {
    // Only the S3 pair, to work on the S3 path: `BENCH_STORAGE_ONLY=s3 pnpm bench:storage`.
    const { directRate, s3ServiceRate } = await s3Pair(await provisionDatabase(workDir), chunk);
    console.log(`\nS3 via service / direct: ${fixed(s3ServiceRate / directRate, 2)}`);
    return;
  }
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
  console.log(`${"   peak RSS 2 GiB / 256 MiB".padEnd(50)} ${fixed(rssRatio, 2).padStart(9)}`);

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

  const { directRate, s3ServiceRate, directMs, serviceMs, cpu: s3Cpu } = await s3Pair(databaseUrl, chunk);

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
      figure: "s3 disk via service vs direct lib-storage (RGW, 1 GiB)",
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
      table,
      details: {
        rawWriteWarmMBps: warmWriteRate,
        servicePeakRssBeforeUploadBytes: idleRssBytes,
        tusLastPatchMs: tus.finalRequestMs ?? null,
        s3PartBytes: S3_PART_BYTES,
        s3QueueSize: S3_QUEUE_SIZE,
        s3DirectMs: directMs,
        s3ServiceMs: serviceMs,
        s3CpuSecondsPerGiB: s3Cpu,
      },
    };
    await writeFile(jsonOut, `${JSON.stringify(results, null, 2)}\n`);
    console.log(`results written to ${jsonOut}`);
  }
}

runBenchmark("storage benchmark", main);
