/**
 * `pnpm bench:web`: what the web hop costs, measured in one run. 1 GiB straight to the storage service, the same
 * through the web's multipart route and through its tus route (8 MiB PATCHes); the web process's peak RSS for a
 * 256 MiB and a 2 GiB upload (a fresh web process each); 16 concurrent 64 MiB uploads through the web. Every upload
 * comes from a separate client process and counts only if the server reports the sha256 of the bytes sent.
 * Not a test: it prints figures (MB = 10^6 bytes) and, with BENCH_JSON_OUT set, writes them there as JSON.
 * Uses DATABASE_URL's server when set (a fresh database, dropped at the end), otherwise a throwaway embedded
 * PostgreSQL. Everything it starts or writes goes away at the end, on failure and on Ctrl-C too.
 */
import { writeFile } from "node:fs/promises";
import type { ClientJob, ClientResult, UploadResult } from "./client";
import {
  childPids,
  cpuSeconds,
  fixed,
  GiB,
  MB,
  MiB,
  machine,
  mbPerSecond,
  peakRssBytes,
  printTable,
  report,
  runBenchmark,
  runJsonChild,
  sizeLabel,
  type TableRow,
  workFolder,
} from "./lib";
import { PAYLOAD_CHUNK_BYTES } from "./payload";
import { type DepotStack, deleteFile, deleteObject, startDepot } from "./stack";

const UPLOAD_BYTES = GiB;
const TUS_CHUNK_BYTES = 8 * MiB;
const RSS_SMALL_UPLOAD_BYTES = 256 * MiB;
const RSS_LARGE_UPLOAD_BYTES = 2 * GiB;
const CONCURRENT_UPLOADS = 16;
const CONCURRENT_UPLOAD_BYTES = 64 * MiB;
const CLIENT_TIMEOUT_MS = 10 * 60_000;

function clientRunner(stack: DepotStack) {
  return (label: string, job: ClientJob) =>
    runJsonChild<ClientResult>(
      `upload client (${label})`,
      "bench/client.ts",
      job,
      { BENCH_API_KEY: stack.apiKey, BENCH_COOKIE: stack.cookie },
      CLIENT_TIMEOUT_MS,
    );
}

const stored = (upload: UploadResult) =>
  upload.status >= 200 && upload.status <= 299 && upload.sha256 === upload.expectedSha256;

/** An upload counts only if the server stored exactly the bytes sent. */
function checkStored(what: string, result: ClientResult): UploadResult {
  for (const upload of result.uploads) {
    if (upload.status < 200 || upload.status > 299) {
      throw new Error(`${what}: the server answered ${upload.status} (${upload.error ?? "no error code"})`);
    }
    if (upload.sha256 !== upload.expectedSha256) {
      throw new Error(`${what}: the server reported a different sha256 than the client's`);
    }
  }
  const first = result.uploads[0];
  if (!first) throw new Error(`${what}: no upload was made`);
  return first;
}

async function deleteUploads(stack: DepotStack, result: ClientResult): Promise<void> {
  for (const upload of result.uploads) if (upload.fileId) await deleteFile(stack, upload.fileId);
}

/** Peak RSS of the web server: its own VmHWM, plus any worker processes Next.js started. */
async function webPeakRss(stack: DepotStack): Promise<{ bytes: number; workers: number }> {
  const pid = stack.webPid();
  const workers = await childPids(pid);
  let bytes = await peakRssBytes(pid);
  for (const worker of workers) bytes += await peakRssBytes(worker).catch(() => 0);
  return { bytes, workers: workers.length };
}

async function main(): Promise<void> {
  const startedAt = performance.now();
  const workDir = await workFolder("depot-bench-web-");
  const host = await machine();
  console.log(`web benchmark: ${host.cores} cores, Node ${host.node}, work folder ${workDir}`);
  console.log(
    `MB = 10^6 bytes; payload: one ${PAYLOAD_CHUNK_BYTES / MiB} MiB pseudo-random buffer repeated, ` +
      "sent by a separate client process\n",
  );

  const stack = await startDepot(workDir);
  const run = clientRunner(stack);
  const web = { route: "web", webUrl: stack.webUrl, cohortId: stack.cohortId } as const;
  const tus = { route: "tus", webUrl: stack.webUrl, cohortId: stack.cohortId, chunkBytes: TUS_CHUNK_BYTES } as const;

  // Next.js loads a route's code on its first request: warm both routes up so no measurement pays for that.
  for (const [label, target] of [
    ["warm-up web", web],
    ["warm-up tus", tus],
  ] as const) {
    const warm = await run(label, { target, bytes: MiB });
    checkStored(label, warm);
    await deleteUploads(stack, warm);
  }

  /** CPU seconds each server spent during `work`: where the time of an upload goes. */
  const cpu: Record<string, { web: number; storage: number; wallMs: number }> = {};
  const measured = async <T>(name: string, work: () => Promise<T>): Promise<T> => {
    const before = { web: await cpuSeconds(stack.webPid()), storage: await cpuSeconds(stack.storagePid()) };
    const began = performance.now();
    const result = await work();
    cpu[name] = {
      wallMs: performance.now() - began,
      web: (await cpuSeconds(stack.webPid())) - before.web,
      storage: (await cpuSeconds(stack.storagePid())) - before.storage,
    };
    return result;
  };
  const cpuNote = (name: string) => {
    const used = cpu[name]!;
    return `CPU: web ${fixed(used.web, 1)} s, storage ${fixed(used.storage, 1)} s`;
  };

  const direct = checkStored(
    "direct upload",
    await measured("direct", () =>
      run("direct", {
        target: { route: "direct", servicesUrl: stack.servicesUrl, key: "bench/direct" },
        bytes: UPLOAD_BYTES,
      }),
    ),
  );
  await deleteObject(stack, "bench/direct");
  const directRate = report(
    "1. 1 GiB straight to storage (raw POST)",
    UPLOAD_BYTES,
    direct.ms,
    `sha256 ok; ${cpuNote("direct")}`,
  );

  const viaWeb = checkStored(
    "web upload",
    await measured("web", () => run("web", { target: web, bytes: UPLOAD_BYTES })),
  );
  await deleteFile(stack, viaWeb.fileId!);
  const webRate = report(
    "2. 1 GiB through the web (multipart /api/uploads)",
    UPLOAD_BYTES,
    viaWeb.ms,
    `sha256 ok; web/direct ${fixed(mbPerSecond(UPLOAD_BYTES, viaWeb.ms) / directRate, 2)}; ${cpuNote("web")}`,
  );

  const viaTus = checkStored(
    "tus upload",
    await measured("tus", () => run("tus", { target: tus, bytes: UPLOAD_BYTES })),
  );
  await deleteFile(stack, viaTus.fileId!);
  const tusRate = report(
    `3. 1 GiB through the web's tus (${TUS_CHUNK_BYTES / MiB} MiB PATCHes)`,
    UPLOAD_BYTES,
    viaTus.ms,
    `sha256 ok; tus/direct ${fixed(mbPerSecond(UPLOAD_BYTES, viaTus.ms) / directRate, 2)}; ${cpuNote("tus")}`,
  );
  if (viaTus.finalRequestMs !== undefined) {
    console.log(
      `   of which the last PATCH (storage joins ${UPLOAD_BYTES / TUS_CHUNK_BYTES} chunks into the object): ` +
        `${fixed(viaTus.finalRequestMs / 1000, 2)} s`,
    );
  }

  const peakRss: Record<"small" | "large", number> = { small: 0, large: 0 };
  const idleRss: Record<"small" | "large", number> = { small: 0, large: 0 };
  let workers = 0;
  for (const [size, bytes] of [
    ["small", RSS_SMALL_UPLOAD_BYTES],
    ["large", RSS_LARGE_UPLOAD_BYTES],
  ] as const) {
    await stack.restartWeb();
    idleRss[size] = (await webPeakRss(stack)).bytes;
    const upload = checkStored(
      `${sizeLabel(bytes)} upload`,
      await run(`web ${sizeLabel(bytes)}`, { target: web, bytes }),
    );
    const peak = await webPeakRss(stack);
    peakRss[size] = peak.bytes;
    workers = Math.max(workers, peak.workers);
    await deleteFile(stack, upload.fileId!);
    report(
      `4. web peak RSS, fresh process (${sizeLabel(bytes)})`,
      bytes,
      upload.ms,
      `web VmHWM ${fixed(peakRss[size] / MB)} MB (${fixed(idleRss[size] / MB)} MB before the upload)`,
    );
  }
  const rssRatio = peakRss.large / peakRss.small;
  console.log(`${"   web peak RSS 2 GiB / 256 MiB".padEnd(50)} ${fixed(rssRatio, 2).padStart(9)}`);

  await stack.restartWeb();
  const concurrentIdleRss = (await webPeakRss(stack)).bytes;
  const concurrent = await run(`${CONCURRENT_UPLOADS} concurrent`, {
    target: web,
    bytes: CONCURRENT_UPLOAD_BYTES,
    count: CONCURRENT_UPLOADS,
    concurrency: CONCURRENT_UPLOADS,
  });
  const concurrentPeak = (await webPeakRss(stack)).bytes;
  const succeeded = concurrent.uploads.filter(stored);
  await deleteUploads(stack, concurrent);
  const concurrentRate = report(
    `5. ${CONCURRENT_UPLOADS} concurrent ${sizeLabel(CONCURRENT_UPLOAD_BYTES)} through the web`,
    succeeded.length * CONCURRENT_UPLOAD_BYTES,
    concurrent.wallMs,
    `${succeeded.length}/${CONCURRENT_UPLOADS} stored with matching sha256; web VmHWM ${fixed(concurrentPeak / MB)} MB`,
  );
  const failures = concurrent.uploads.filter((upload) => !stored(upload));
  for (const failure of failures.slice(0, 5)) {
    console.log(`   failed: status ${failure.status} ${failure.error ?? "(sha256 differs)"}`);
  }
  const storagePeak = await peakRssBytes(stack.storagePid());
  console.log(`   storage service VmHWM over the whole run: ${fixed(storagePeak / MB)} MB`);
  if (workers > 0) console.log(`   (the web peak RSS includes ${workers} Next.js worker process(es))`);

  const table: TableRow[] = [
    {
      figure: "web multipart 1 GiB vs direct to storage",
      unit: "MB/s",
      depot: webRate,
      baseline: directRate,
      ratio: webRate / directRate,
    },
    {
      figure: "web tus 1 GiB (8 MiB PATCHes) vs direct to storage",
      unit: "MB/s",
      depot: tusRate,
      baseline: directRate,
      ratio: tusRate / directRate,
    },
    {
      figure: "web peak RSS, 2 GiB vs 256 MiB upload",
      unit: "MB",
      depot: peakRss.large / MB,
      baseline: peakRss.small / MB,
      ratio: rssRatio,
    },
    {
      figure: `${CONCURRENT_UPLOADS} x ${sizeLabel(CONCURRENT_UPLOAD_BYTES)} concurrent vs one 1 GiB via web`,
      unit: "MB/s",
      depot: concurrentRate,
      baseline: webRate,
      ratio: concurrentRate / webRate,
    },
    {
      figure: `web peak RSS, ${CONCURRENT_UPLOADS} concurrent vs one 256 MiB`,
      unit: "MB",
      depot: concurrentPeak / MB,
      baseline: peakRss.small / MB,
      ratio: concurrentPeak / peakRss.small,
    },
  ];
  printTable(table);
  const totalMs = performance.now() - startedAt;
  console.log(`\ntotal ${fixed(totalMs / 1000)} s`);

  const jsonOut = process.env.BENCH_JSON_OUT;
  if (jsonOut) {
    const results = {
      benchmark: "web",
      measuredAt: new Date().toISOString(),
      machine: host,
      mbIs: "10^6 bytes",
      totalMs,
      table,
      details: {
        directMBps: directRate,
        webMBps: webRate,
        tusMBps: tusRate,
        tusLastPatchMs: viaTus.finalRequestMs ?? null,
        cpuSecondsPerUpload: cpu,
        webPeakRssBytes: peakRss,
        webPeakRssBeforeUploadBytes: idleRss,
        webWorkerProcesses: workers,
        concurrent: {
          uploads: CONCURRENT_UPLOADS,
          bytesEach: CONCURRENT_UPLOAD_BYTES,
          succeeded: succeeded.length,
          wallMs: concurrent.wallMs,
          aggregateMBps: concurrentRate,
          webPeakRssBytes: concurrentPeak,
          webPeakRssBeforeBytes: concurrentIdleRss,
          slowestMs: Math.max(...concurrent.uploads.map((upload) => upload.ms)),
          fastestMs: Math.min(...concurrent.uploads.map((upload) => upload.ms)),
        },
        storagePeakRssBytes: storagePeak,
      },
    };
    await writeFile(jsonOut, `${JSON.stringify(results, null, 2)}\n`);
    console.log(`results written to ${jsonOut}`);
  }
}

runBenchmark("web benchmark", main);
