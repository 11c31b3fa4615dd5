/**
 * `pnpm bench:storage`: the storage service on a local disk against this machine's raw write + fsync and sha256, its
 * peak RSS for a 256 MiB and a 2 GiB upload (a fresh process each), and 1 GiB to an S3 disk on Ceph RGW against
 * lib-storage straight to the bucket (`BENCH_STORAGE_ONLY=s3`: that pair alone, into storage-s3.json). Writes
 * bench/results/storage.json.
 */
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { DeleteObjectCommand, HeadObjectCommand } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { S3_UPLOAD_PART_BYTES as PART_BYTES, S3_UPLOAD_QUEUE_SIZE as QUEUE_SIZE } from "../apps/storage/src/drivers/s3";
import {
  figure,
  GiB,
  MB,
  MiB,
  mbPerSecond,
  measureUpload,
  report,
  runBenchmark,
  serverRss,
  withCpu,
  workFolder,
  writeResult,
} from "./lib";
import { payloadChunk, payloadPieces, sha256Ms, writeMs } from "./payload";
import { startS3, startStorage } from "./stack";

const UPLOAD_BYTES = GiB;
const RSS_SIZES = [256 * MiB, 2 * GiB] as const;
const S3_ROUNDS = 2;

/**
 * 1 GiB through the storage service onto an S3 disk against lib-storage's Upload of the same bytes straight to the
 * same bucket with the same part size and queue, alternating, best of S3_ROUNDS each; with the CPU seconds per GiB
 * of every process on each path.
 */
async function s3Pair(workDir: string) {
  const { rgw, s3, storageEnv } = await startS3(6 * GiB);
  const storage = await startStorage(workDir, storageEnv);
  const ms = { direct: [] as number[], service: [] as number[] };
  const cpu: Record<"direct" | "service", Record<string, number>> = { direct: {}, service: {} };
  const { gateway, osd } = rgw.pids();
  const chunk = payloadChunk();
  const add = (into: Record<string, number>, used: Record<string, number>) => {
    for (const [name, seconds] of Object.entries(used)) into[name] = (into[name] ?? 0) + seconds / S3_ROUNDS;
  };
  for (let round = 0; round < S3_ROUNDS; round++) {
    const key = `bench/direct-${round}`;
    const direct = await withCpu({ bench: process.pid, gateway, osd }, async () => {
      const startedAt = performance.now();
      const params = { Bucket: rgw.bucket, Key: key, Body: Readable.from(payloadPieces(UPLOAD_BYTES, chunk)) };
      await new Upload({ client: s3, params, partSize: PART_BYTES, queueSize: QUEUE_SIZE }).done();
      return performance.now() - startedAt;
    });
    const head = await s3.send(new HeadObjectCommand({ Bucket: rgw.bucket, Key: key }));
    if (head.ContentLength !== UPLOAD_BYTES) throw new Error(`S3 stored ${head.ContentLength} bytes`);
    await s3.send(new DeleteObjectCommand({ Bucket: rgw.bucket, Key: key }));
    report(`S3 round ${round + 1}, direct`, UPLOAD_BYTES, direct.result);
    const target = { route: "direct", servicesUrl: storage.servicesUrl, key: `bench/s3-${round}` } as const;
    const job = { target, bytes: UPLOAD_BYTES };
    const pids = { service: storage.pid(), gateway, osd };
    const viaService = await measureUpload(storage.runClient, `S3 round ${round + 1}, via the service`, job, pids);
    await s3.send(new DeleteObjectCommand({ Bucket: rgw.bucket, Key: `${rgw.disk().prefix}${target.key}` }));
    ms.direct.push(direct.result);
    ms.service.push(viaService.ms);
    add(cpu.direct, direct.cpu);
    add(cpu.service, viaService.cpu);
  }
  await storage.stop();
  const best = (runs: number[]) => mbPerSecond(UPLOAD_BYTES, Math.min(...runs));
  const label = `lib-storage Upload straight to the bucket, part ${PART_BYTES / MiB} MiB, queue ${QUEUE_SIZE}`;
  const details = { s3PartBytes: PART_BYTES, s3QueueSize: QUEUE_SIZE, s3Ms: ms, s3CpuSecondsPerGiB: cpu };
  const text = "1 GiB to an S3 disk (RGW) through the storage service";
  const vs = [label, best(ms.direct)] as const;
  return { figure: figure("storage.s3", text, "MB/s", best(ms.service), { vs, goal: "ratio >= 0.9" }), details };
}

async function main(): Promise<void> {
  const workDir = await workFolder("depot-bench-");
  if (process.env.BENCH_STORAGE_ONLY === "s3") {
    const s3 = await s3Pair(workDir);
    return writeResult("storage-s3", [s3.figure], s3.details);
  }
  // Baselines first, before PostgreSQL's setup writes and checkpoints.
  const writeRate = report("raw write + fsync", UPLOAD_BYTES, await writeMs(join(workDir, "raw"), UPLOAD_BYTES, "end"));
  const shaRate = report("sha256 in memory", UPLOAD_BYTES, sha256Ms(UPLOAD_BYTES));
  const storage = await startStorage(workDir);
  const diskDir = storage.storageRoot!;

  /** One upload straight to a fresh service process on an empty local disk; its rate and the service's peak RSS. */
  const upload = async (bytes: number) => {
    await storage.service.stop();
    await rm(diskDir, { recursive: true, force: true });
    await mkdir(diskDir);
    await storage.service.start();
    const target = { route: "direct", servicesUrl: storage.servicesUrl, key: "bench/plain" } as const;
    const { rate } = await measureUpload(storage.runClient, "upload to the service", { target, bytes }, {});
    const peakRss = await serverRss(storage.pid());
    console.log(`   peak RSS ${(peakRss / MB).toFixed(0)} MB`);
    return { rate, peakRss };
  };
  const plain = await upload(UPLOAD_BYTES);
  const [small, large] = [await upload(RSS_SIZES[0]), await upload(RSS_SIZES[1])];
  await storage.stop();
  const s3 = await s3Pair(workDir);
  const figures = [
    figure("storage.write", "raw write + fsync, 1 GiB, 8 MiB writes", "MB/s", writeRate),
    figure("storage.sha256", "sha256 in memory, 1 GiB", "MB/s", shaRate),
    figure("storage.upload", "1 GiB straight to the storage service (local disk)", "MB/s", plain.rate, {
      vs: ["min(raw write + fsync, sha256)", Math.min(writeRate, shaRate)],
    }),
    figure("storage.rss", "service peak RSS, 2 GiB upload", "MB", large.peakRss / MB, {
      vs: ["the same for 256 MiB", small.peakRss / MB],
    }),
    s3.figure,
  ];
  await writeResult("storage", figures, s3.details);
}

runBenchmark("storage benchmark", main);
