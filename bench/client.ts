/**
 * The upload client of every benchmark, run as its own process so that producing the bytes does not share an event
 * loop with a server or the bench. Usage: `node --import tsx bench/client.ts '<ClientJob as JSON>'`, the API key in
 * BENCH_API_KEY and the session cookie in BENCH_COOKIE. Prints one line of JSON: a ClientResult.
 *
 * The payload is bench/payload.ts's; the digest of every size is computed before the clock starts, and an upload
 * counts only if the server reports that digest.
 */
import { Agent } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { type Content, payloadChunk, payloadContent } from "./payload";
import { directUpload, tusUpload, type UploadOutcome, webUpload } from "./uploads";

export type Target =
  | { route: "direct"; servicesUrl: string; key: string }
  | { route: "web"; webUrl: string; cohortId: string }
  /** tus through the web (cohortId), straight to storage (fileId, the file row's id) or to a standalone baseline. */
  | { route: "tus"; url: string; chunkBytes: number; cohortId?: string; fileId?: string };

export interface ClientJob {
  target: Target;
  bytes: number;
  /** Uploads to make (default 1), `concurrency` at a time (default 1). */
  count?: number;
  concurrency?: number;
  /** bench:load: the web target's loops upload `sizes` in turn from `startAt` until `stopAt` (epoch ms) or until
   * `budgetBytes` are sent, instead of `count`; the first `tusPauses` loops each make one tus upload of `bytes` that
   * drops its connection mid-PATCH, asks HEAD for the offset and resumes. */
  mix?: { sizes: number[]; startAt: number; stopAt: number; budgetBytes: number; tusPauses: number; offset: number };
}

export interface UploadResult extends UploadOutcome {
  route: Target["route"];
  ms: number;
  /** Epoch ms of the answer. */
  endedAt: number;
  bytes: number;
  /** The digest of the bytes this client sent. */
  expectedSha256: string;
}

export interface ClientResult {
  /** From the first request to the last answer. */
  wallMs: number;
  uploads: UploadResult[];
}

const TUS_CHUNK_BYTES = 8 * 1024 * 1024;

async function main(job: ClientJob): Promise<ClientResult> {
  const apiKey = process.env.BENCH_API_KEY ?? "";
  const cookie = process.env.BENCH_COOKIE ?? "";
  const { target, mix } = job;
  const count = mix ? Number.POSITIVE_INFINITY : (job.count ?? 1);
  const concurrency = Math.min(job.concurrency ?? 1, count);
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const chunk = payloadChunk();
  const contents = new Map<number, Content>();
  for (const bytes of new Set([job.bytes, ...(mix?.sizes ?? [])])) {
    contents.set(bytes, payloadContent(bytes, chunk, mix?.offset ?? 0));
  }

  const upload = (route: Target, content: Content, index: number, pause?: boolean): Promise<UploadOutcome> => {
    if (route.route === "direct") {
      return directUpload(agent, route.servicesUrl, apiKey, count > 1 ? `${route.key}-${index}` : route.key, content);
    }
    if (route.route === "web") {
      const fields = { cohortId: route.cohortId, kind: "submission" } as const;
      return webUpload(agent, route.webUrl, cookie, fields, `bench-${index}.csv`, content);
    }
    const { url, chunkBytes, cohortId, fileId } = route;
    const options: { headers: Record<string, string>; [other: string]: Record<string, string> } = cohortId
      ? { headers: { cookie }, metadata: { cohortId, kind: "submission", filename: `bench-${index}.csv` } }
      : fileId // storage's own tus route takes the file row's id as a header, not as metadata
        ? { headers: { "x-api-key": apiKey }, createHeaders: { "x-depot-file-id": fileId } }
        : { headers: {}, metadata: { filename: "bench.csv" } };
    return tusUpload(
      agent,
      { createUrl: url, chunkBytes, ...(pause ? { pause: { chunk: 2 } } : {}), ...options },
      content,
    );
  };

  const uploads: UploadResult[] = [];
  let next = 0;
  let budget = mix?.budgetBytes ?? Number.POSITIVE_INFINITY;
  if (mix) await sleep(Math.max(0, mix.startAt - Date.now()));
  const startedAt = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async (_, slot) => {
      // A loop with a paused tus upload makes it at an evenly spaced moment of the run.
      let tusAt =
        mix && slot < mix.tusPauses
          ? mix.startAt + ((slot + 0.5) * (mix.stopAt - mix.startAt)) / (mix.tusPauses + 1)
          : Infinity;
      for (let index = next++; index < count && !(mix && Date.now() >= mix.stopAt); index = next++) {
        const paused = Date.now() >= tusAt;
        const bytes = mix && !paused ? mix.sizes[index % mix.sizes.length]! : job.bytes;
        if (bytes > budget) return;
        budget -= bytes;
        let route = target;
        if (paused && target.route === "web") {
          tusAt = Infinity;
          route = {
            route: "tus",
            url: new URL("/api/uploads/tus/", target.webUrl).href,
            chunkBytes: TUS_CHUNK_BYTES,
            cohortId: target.cohortId,
          };
        }
        const content = contents.get(bytes)!;
        const began = performance.now();
        const outcome = await upload(route, content, index, paused).catch(
          (error: NodeJS.ErrnoException): UploadOutcome => ({ status: 0, sha256: null, error: error.code ?? "error" }),
        );
        const ms = performance.now() - began;
        uploads.push({
          ...outcome,
          route: route.route,
          ms,
          endedAt: Date.now(),
          bytes,
          expectedSha256: content.sha256,
        });
      }
    }),
  );
  const result: ClientResult = { wallMs: performance.now() - startedAt, uploads };
  agent.destroy();
  return result;
}

// The job comes as JSON in the first argument; a failure prints the error's name, code and message only.
main(JSON.parse(process.argv[2] ?? "") as ClientJob).then(
  (result) => process.stdout.write(`${JSON.stringify(result)}\n`),
  (error: { name?: string; code?: string; message?: string }) => {
    process.stderr.write(
      `bench client failed: ${error.name}${error.code ? ` (${error.code})` : ""}: ${error.message}\n`,
    );
    process.exit(1);
  },
);
