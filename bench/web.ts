/**
 * `pnpm bench:web`: what the web hop costs, in one run: 1 GiB straight to the storage service and the same through
 * the web's multipart route, with the CPU seconds of both servers; the web process's peak RSS for a 256 MiB and a
 * 2 GiB upload (a fresh web process each); 16 concurrent 64 MiB uploads through the web. Every upload comes from a
 * separate client process and counts only if the server reports the sha256 of the bytes sent. Writes
 * bench/results/web.json. Uses DATABASE_URL's server when set, otherwise a throwaway embedded PostgreSQL; everything
 * it starts or writes goes away at the end, on failure and on Ctrl-C too.
 */
import type { ClientJob } from "./client";
import {
  checkStored,
  childPids,
  clientRunner,
  figure,
  GiB,
  MB,
  MiB,
  mbPerSecond,
  peakRssBytes,
  report,
  runBenchmark,
  sizeLabel,
  stored,
  withCpu,
  workFolder,
  writeResult,
} from "./lib";
import { type DepotStack, deleteFile, deleteObject, startDepot } from "./stack";

const UPLOAD_BYTES = GiB;
const RSS_SIZES = [256 * MiB, 2 * GiB] as const;
const CONCURRENT_UPLOADS = 16;
const CONCURRENT_UPLOAD_BYTES = 64 * MiB;

/** Peak RSS of the web server: its own VmHWM, plus any worker processes Next.js started. */
async function webPeakRss(stack: DepotStack): Promise<number> {
  let bytes = await peakRssBytes(stack.webPid());
  for (const worker of await childPids(stack.webPid())) bytes += await peakRssBytes(worker).catch(() => 0);
  return bytes;
}

async function main(): Promise<void> {
  const stack = await startDepot(await workFolder("depot-bench-web-"));
  const run = clientRunner({ BENCH_API_KEY: stack.apiKey, BENCH_COOKIE: stack.cookie });
  const web = { route: "web", webUrl: stack.webUrl, cohortId: stack.cohortId } as const;
  const servers = () => ({ web: stack.webPid(), storage: stack.storagePid() });
  /** One upload, checked, with both servers' CPU seconds; the file goes away afterwards. */
  const upload = async (label: string, job: ClientJob) => {
    const { result, cpu } = await withCpu(servers(), () => run(label, job));
    const done = checkStored(label, result);
    if (done.fileId) await deleteFile(stack, done.fileId);
    else if (job.target.route === "direct") await deleteObject(stack, job.target.key);
    report(label, job.bytes, done.ms, `CPU: web ${cpu.web?.toFixed(1)} s, storage ${cpu.storage?.toFixed(1)} s`);
    return { rate: mbPerSecond(job.bytes, done.ms), ms: done.ms, cpu };
  };

  // Next.js loads a route's code on its first request: warm it up so no measurement pays for that.
  await upload("warm-up", { target: web, bytes: MiB });
  const direct = await upload("1 GiB straight to storage", {
    target: { route: "direct", servicesUrl: stack.servicesUrl, key: "bench/direct" },
    bytes: UPLOAD_BYTES,
  });
  const viaWeb = await upload("1 GiB through the web", { target: web, bytes: UPLOAD_BYTES });

  const peakRss: number[] = [];
  for (const bytes of RSS_SIZES) {
    await stack.restartWeb();
    await upload(`${sizeLabel(bytes)} through a fresh web process`, { target: web, bytes });
    peakRss.push(await webPeakRss(stack));
  }

  await stack.restartWeb();
  const concurrent = await run("concurrent", {
    target: web,
    bytes: CONCURRENT_UPLOAD_BYTES,
    count: CONCURRENT_UPLOADS,
    concurrency: CONCURRENT_UPLOADS,
  });
  const concurrentPeak = await webPeakRss(stack);
  const succeeded = concurrent.uploads.filter(stored).length;
  for (const done of concurrent.uploads) if (done.fileId) await deleteFile(stack, done.fileId);
  const concurrentRate = report(
    `${CONCURRENT_UPLOADS} concurrent ${sizeLabel(CONCURRENT_UPLOAD_BYTES)} through the web`,
    succeeded * CONCURRENT_UPLOAD_BYTES,
    concurrent.wallMs,
    `${succeeded}/${CONCURRENT_UPLOADS} stored`,
  );

  const rss256: [string, number] = ["the same for one 256 MiB upload", peakRss[0]! / MB];
  await writeResult(
    "web",
    [
      figure("web.upload", "1 GiB through the web, multipart", "MB/s", viaWeb.rate, [
        "the same straight to storage",
        direct.rate,
      ]),
      figure("web.rss", "web peak RSS, 2 GiB upload, fresh process", "MB", peakRss[1]! / MB, rss256),
      figure(
        "web.concurrent",
        `${CONCURRENT_UPLOADS} concurrent ${sizeLabel(CONCURRENT_UPLOAD_BYTES)} uploads through the web, aggregate`,
        "MB/s",
        concurrentRate,
        ["one 1 GiB upload through the web", viaWeb.rate],
      ),
      figure("web.concurrent.stored", "of which stored with a matching sha256", "count", succeeded, [
        "uploads",
        CONCURRENT_UPLOADS,
      ]),
      figure(
        "web.concurrent.rss",
        `web peak RSS, ${CONCURRENT_UPLOADS} concurrent uploads`,
        "MB",
        concurrentPeak / MB,
        rss256,
      ),
    ],
    {
      cpuSecondsPerUpload: { direct: direct.cpu, web: viaWeb.cpu },
      wallMs: { direct: direct.ms, web: viaWeb.ms },
      storagePeakRssBytes: await peakRssBytes(stack.storagePid()),
    },
  );
}

runBenchmark("web benchmark", main);
