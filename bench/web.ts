/**
 * `pnpm bench:web`: what the web hop costs, in one run: 1 GiB straight to the storage service and the same through
 * the web's multipart route, with the CPU seconds of both servers; the web process's peak RSS for a 256 MiB and a
 * 2 GiB upload (a fresh web process each). Writes bench/results/web.json. Uses DATABASE_URL's server when set,
 * otherwise a throwaway embedded PostgreSQL.
 */
import type { ClientJob } from "./client";
import { figure, GiB, MB, MiB, measureUpload, runBenchmark, serverRss, workFolder, writeResult } from "./lib";
import { deleteUpload, startDepot } from "./stack";

const UPLOAD_BYTES = GiB;
const RSS_SIZES = [256 * MiB, 2 * GiB] as const;

async function main(): Promise<void> {
  const stack = await startDepot(await workFolder("depot-bench-web-"));
  const web = { route: "web", webUrl: stack.webUrl, cohortId: stack.cohortId } as const;
  /** One upload with both servers' CPU seconds; the file goes away afterwards. */
  const upload = async (label: string, job: ClientJob) => {
    const measured = await measureUpload(stack.runClient, label, job, stack.pids());
    const key = job.target.route === "direct" ? job.target.key : undefined;
    await deleteUpload(stack, { fileId: measured.upload.fileId, key });
    return measured;
  };

  // Next.js loads a route's code on its first request: warm it up so no measurement pays for that.
  await upload("warm-up", { target: web, bytes: MiB });
  const toStorage = { route: "direct", servicesUrl: stack.servicesUrl, key: "bench/direct" } as const;
  const direct = await upload("straight to storage", { target: toStorage, bytes: UPLOAD_BYTES });
  const viaWeb = await upload("through the web", { target: web, bytes: UPLOAD_BYTES });

  const peakRss: number[] = [];
  for (const bytes of RSS_SIZES) {
    await stack.restartWeb();
    await upload("through a fresh web process", { target: web, bytes });
    peakRss.push(await serverRss(stack.webPid()));
  }

  await writeResult(
    "web",
    [
      figure("web.upload", "1 GiB through the web, multipart", "MB/s", viaWeb.rate, {
        vs: ["the same straight to storage", direct.rate],
      }),
      figure("web.rss", "web peak RSS, 2 GiB upload, fresh process", "MB", peakRss[1]! / MB, {
        vs: ["the same for one 256 MiB upload", peakRss[0]! / MB],
      }),
    ],
    {
      cpuSecondsPerUpload: { direct: direct.cpu, web: viaWeb.cpu },
      wallMs: { direct: direct.ms, web: viaWeb.ms },
      storagePeakRssBytes: await serverRss(stack.storagePid()),
    },
  );
}

runBenchmark("web benchmark", main);
