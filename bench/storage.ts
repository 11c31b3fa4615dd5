import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { DeleteObjectCommand, HeadObjectCommand } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { createS3Client, S3_UPLOAD_PART_BYTES, S3_UPLOAD_QUEUE_SIZE } from "../apps/storage/src/drivers/s3";
import { startRgw } from "../scripts/rgw";
import {
  checkStored,
  clientRunner,
  type Figure,
  figure,
  fixed,
  GiB,
  MB,
  MiB,
  mbPerSecond,
  onCleanup,
  provisionDatabase,
  report,
  runBenchmark,
  serverRss,
  sizeLabel,
  withCpu,
  workFolder,
  writeResult,
} from "./lib";
import { payloadChunk, payloadPieces, sha256Ms, writeMs } from "./payload";
import { startStorage } from "./stack";

const UPLOAD_BYTES = GiB;
const RSS_SIZES = [256 * MiB, 2 * GiB] as const;
const S3_ROUNDS = 2;

/**
 * 1 GiB through the storage service onto an S3 disk against lib-storage's Upload of the same bytes straight to the
 * same bucket with the same part size and queue, alternating, best of S3_ROUNDS each; with the CPU seconds per GiB
 * of every process on each path.
 */
async function s3Pair(databaseUrl: string, chunk: Buffer) {
  const rgw = await startRgw({ bucket: "depot-bench", memstoreBytes: 6 * GiB });
  onCleanup("RADOS Gateway", () => rgw.stop());
  const disk = rgw.disk();
  const s3 = createS3Client(disk);
  onCleanup("S3 client", async () => s3.destroy());
  const service = await startStorage("storage service (s3 disk)", databaseUrl, {
    STORAGE_CONFIG: JSON.stringify({ disks: { workspace: disk } }),
  });
  const run = clientRunner({ BENCH_API_KEY: service.apiKey });
  const ms = { direct: [] as number[], service: [] as number[] };
  const cpu: Record<"direct" | "service", Record<string, number>> = { direct: {}, service: {} };
  const { gateway, osd } = rgw.pids();
  const add = (into: Record<string, number>, used: Record<string, number>) => {
    for (const [name, seconds] of Object.entries(used)) into[name] = (into[name] ?? 0) + seconds / S3_ROUNDS;
  };
  for (let round = 0; round < S3_ROUNDS; round++) {
    const key = `bench/direct-${round}`;
    const direct = await withCpu({ bench: process.pid, gateway, osd }, async () => {
      const startedAt = performance.now();
      const Body = Readable.from(payloadPieces(UPLOAD_BYTES, chunk));
      const upload = new Upload({
        client: s3,
        params: { Bucket: rgw.bucket, Key: key, Body },
        partSize: S3_UPLOAD_PART_BYTES,
        queueSize: S3_UPLOAD_QUEUE_SIZE,
      });
      await upload.done();
      return performance.now() - startedAt;
    });
    const head = await s3.send(new HeadObjectCommand({ Bucket: rgw.bucket, Key: key }));
    if (head.ContentLength !== UPLOAD_BYTES) throw new Error(`S3 stored ${head.ContentLength} bytes`);
    await s3.send(new DeleteObjectCommand({ Bucket: rgw.bucket, Key: key }));
    const target = { route: "direct", servicesUrl: service.url, key: `bench/s3-${round}` } as const;
    const viaService = await withCpu({ service: service.pid, gateway, osd }, () =>
      run("s3 disk", { target, bytes: UPLOAD_BYTES }),
    );
    const serviceMs = checkStored("upload to the s3 disk", viaService.result).ms;
    await s3.send(new DeleteObjectCommand({ Bucket: rgw.bucket, Key: `${disk.prefix}${target.key}` }));
    ms.direct.push(direct.result);
    ms.service.push(serviceMs);
    add(cpu.direct, direct.cpu);
    add(cpu.service, viaService.cpu);
    report(
      `S3 round ${round + 1}, via the service`,
      UPLOAD_BYTES,
      serviceMs,
      `direct ${fixed(direct.result / 1000, 2)} s`,
    );
  }
  await service.stop();
  const best = (runs: number[]) => mbPerSecond(UPLOAD_BYTES, Math.min(...runs));
  const label = `lib-storage Upload straight to the bucket, part ${S3_UPLOAD_PART_BYTES / MiB} MiB, queue ${S3_UPLOAD_QUEUE_SIZE}`;
  return {
    figure: figure(
      "storage.s3",
      "1 GiB to an S3 disk (RGW) through the storage service",
      "MB/s",
      best(ms.service),
      [label, best(ms.direct)],
      "ratio >= 0.9",
    ),
    details: {
      s3PartBytes: S3_UPLOAD_PART_BYTES,
      s3QueueSize: S3_UPLOAD_QUEUE_SIZE,
      s3Ms: ms,
      s3CpuSecondsPerGiB: cpu,
    },
  };
}

async function main(): Promise<void> {
  const workDir = await workFolder("depot-bench-");
  const diskDir = join(workDir, "disk");
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  const chunk = payloadChunk();
  if (process.env.BENCH_STORAGE_ONLY === "s3") {
    const s3 = await s3Pair(await provisionDatabase(workDir), chunk);
    return writeResult("storage-s3", [s3.figure], s3.details);
  }
  // Baselines first, before PostgreSQL's setup writes and checkpoints.
  const writeRate = report("raw write + fsync", UPLOAD_BYTES, await writeMs(join(workDir, "raw"), UPLOAD_BYTES, "end"));
  const shaRate = report("sha256 in memory", UPLOAD_BYTES, sha256Ms(UPLOAD_BYTES));
  const databaseUrl = await provisionDatabase(workDir);

  /** One upload straight to a fresh service on an empty local disk; its time and the service's peak RSS. */
  const upload = async (bytes: number) => {
    await mkdir(diskDir);
    const service = await startStorage(`storage service (${sizeLabel(bytes)})`, databaseUrl, {
      NAS_WORKSPACE_PATH: diskDir,
    });
    const target = { route: "direct", servicesUrl: service.url, key: "bench/plain" } as const;
    const result = checkStored(
      "upload",
      await clientRunner({ BENCH_API_KEY: service.apiKey })("plain", { target, bytes }),
    );
    const peakRss = await serverRss(service.pid);
    await service.stop();
    await rm(diskDir, { recursive: true, force: true });
    report(`upload to the service (${sizeLabel(bytes)})`, bytes, result.ms, `peak RSS ${(peakRss / MB).toFixed(0)} MB`);
    return { rate: mbPerSecond(bytes, result.ms), peakRss };
  };
  const plain = await upload(UPLOAD_BYTES);
  const [small, large] = [await upload(RSS_SIZES[0]), await upload(RSS_SIZES[1])];
  const s3 = await s3Pair(databaseUrl, chunk);
  const figures: Figure[] = [
    figure("storage.write", "raw write + fsync, 1 GiB, 8 MiB writes", "MB/s", writeRate),
    figure("storage.sha256", "sha256 in memory, 1 GiB", "MB/s", shaRate),
    figure("storage.upload", "1 GiB straight to the storage service (local disk)", "MB/s", plain.rate, [
      "min(raw write + fsync, sha256)",
      Math.min(writeRate, shaRate),
    ]),
    figure("storage.rss", "service peak RSS, 2 GiB upload", "MB", large.peakRss / MB, [
      "the same for 256 MiB",
      small.peakRss / MB,
    ]),
    s3.figure,
  ];
  await writeResult("storage", figures, s3.details);
}

runBenchmark("storage benchmark", main);
