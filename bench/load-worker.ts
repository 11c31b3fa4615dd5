/**
 * One client process of `pnpm bench:load`: `concurrency` upload loops through the web, each taking the next size from
 * a fixed weighted mix, from `startAt` until `stopAt` (or until its byte budget is spent); uploads in flight at
 * `stopAt` finish. The first `tusPauses` loops each make one tus upload that drops its connection mid-PATCH, asks
 * HEAD for the offset and goes on. Usage: `node --import tsx bench/load-worker.ts '<LoadJob as JSON>'` with the
 * session cookie in BENCH_COOKIE. Prints one line of JSON: a LoadResult.
 */
import { randomBytes } from "node:crypto";
import { Agent } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { KiB, type LoadJob, type LoadResult, MIX, TUS_CHUNK_BYTES, TUS_PAUSE_BYTES, VARIANTS } from "./load-mix";
import { payloadChunk } from "./payload";
import {
  bufferContent,
  type Content,
  payloadContent,
  runClientProcess,
  tusUpload,
  type UploadOutcome,
  webUpload,
} from "./uploads";

/** A deterministic shuffle (mulberry32), so every run sends the same sequence. */
function sequence(seed: number): number[] {
  const sizes = MIX.flatMap(({ bytes, per100 }) => Array.from({ length: per100 }, () => bytes));
  let state = seed >>> 0;
  const random = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  for (let i = sizes.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [sizes[i], sizes[j]] = [sizes[j]!, sizes[i]!];
  }
  return sizes;
}

runClientProcess("load worker", async (job: LoadJob): Promise<LoadResult> => {
  const cookie = process.env.BENCH_COOKIE ?? "";
  const agent = new Agent({ keepAlive: true, maxSockets: job.concurrency });
  const chunk = payloadChunk();
  // Digests of every size and variant, computed before the start so the clock measures only the uploads.
  const contents = new Map<string, Content>();
  for (let variant = 0; variant < VARIANTS; variant++) {
    const offset = (job.worker * VARIANTS + variant) * 4099 * KiB;
    for (const bytes of [...MIX.map((m) => m.bytes).filter((b) => b > KiB), TUS_PAUSE_BYTES]) {
      const key = `${bytes}:${variant}`;
      if (!contents.has(key)) contents.set(key, payloadContent(bytes, chunk, offset));
    }
  }
  const contentFor = (bytes: number, n: number): Content =>
    bytes <= KiB ? bufferContent(randomBytes(bytes)) : contents.get(`${bytes}:${n % VARIANTS}`)!;

  const result: LoadResult = {
    worker: job.worker,
    completed: 0,
    failed: 0,
    failures: [],
    bytesCompleted: 0,
    lastEndAt: 0,
    smallLatenciesMs: [],
    bySize: Object.fromEntries(MIX.map((m) => [m.bytes, { completed: 0, failed: 0 }])),
    tus: { attempted: 0, resumed: 0, completed: 0, retries: 0, refusals: [] },
    budgetReached: false,
  };
  const order = sequence(0x5eed + job.worker);
  let next = 0;
  let budget = job.budgetBytes;
  const duration = job.stopAt - job.startAt;

  const record = (route: "web" | "tus", content: Content, outcome: UploadOutcome, ms: number) => {
    const ok = outcome.status >= 200 && outcome.status <= 299 && outcome.sha256 === content.sha256;
    const bySize = route === "web" ? result.bySize[content.bytes]! : { completed: 0, failed: 0 };
    result.lastEndAt = Math.max(result.lastEndAt, Date.now());
    if (ok) {
      result.completed++;
      bySize.completed++;
      result.bytesCompleted += content.bytes;
      if (content.bytes === KiB && route === "web") result.smallLatenciesMs.push(ms);
    } else {
      result.failed++;
      bySize.failed++;
      if (result.failures.length < 20) {
        result.failures.push({
          bytes: content.bytes,
          route,
          status: outcome.status,
          error: outcome.error ?? (outcome.sha256 ? "sha256_differs" : "no_sha256"),
        });
      }
    }
    return ok;
  };

  const loop = async (slot: number) => {
    // Loops with a paused tus upload make it at an evenly spaced moment of the run.
    let tusAt = slot < job.tusPauses ? job.startAt + ((slot + 0.5) * duration) / (job.tusPauses + 1) : Infinity;
    for (;;) {
      if (Date.now() >= job.stopAt) return;
      const useTus = Date.now() >= tusAt;
      const n = next++;
      const bytes = useTus ? TUS_PAUSE_BYTES : order[n % order.length]!;
      if (bytes > budget) {
        result.budgetReached = true;
        return;
      }
      budget -= bytes;
      const content = contentFor(bytes, n);
      const began = performance.now();
      if (useTus) {
        tusAt = Infinity;
        result.tus.attempted++;
        const outcome = await tusUpload(
          agent,
          {
            createUrl: new URL("/api/uploads/tus/", job.webUrl).toString(),
            headers: { cookie },
            metadata: { cohortId: job.cohortId, kind: "submission", filename: `load-${job.worker}-${n}.csv` },
            chunkBytes: TUS_CHUNK_BYTES,
            pause: { chunk: 2 },
          },
          content,
        ).catch(
          (error: NodeJS.ErrnoException): UploadOutcome => ({ status: 0, sha256: null, error: error.code ?? "error" }),
        );
        if (outcome.resumedFrom !== undefined) result.tus.resumed++;
        result.tus.retries += outcome.retries ?? 0;
        result.tus.refusals.push(...(outcome.refusals ?? []));
        if (record("tus", content, outcome, performance.now() - began)) result.tus.completed++;
      } else {
        const outcome = await webUpload(
          agent,
          job.webUrl,
          cookie,
          { cohortId: job.cohortId, kind: "submission" },
          `load-${job.worker}-${n}.csv`,
          content,
        ).catch(
          (error: NodeJS.ErrnoException): UploadOutcome => ({ status: 0, sha256: null, error: error.code ?? "error" }),
        );
        record("web", content, outcome, performance.now() - began);
      }
    }
  };

  await sleep(Math.max(0, job.startAt - Date.now()));
  await Promise.all(Array.from({ length: job.concurrency }, (_, slot) => loop(slot)));
  agent.destroy();
  return result;
});
