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
  /** bench:load: the loops upload `sizes` in turn from `startAt` until `stopAt` (epoch ms) or until `budgetBytes`
   * are sent, instead of `count` uploads of `bytes`; the payload from `offset` on. */
  mix?: { sizes: number[]; startAt: number; stopAt: number; budgetBytes: number; offset: number };
}

export interface UploadResult extends UploadOutcome {
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

async function main(job: ClientJob): Promise<ClientResult> {
  const apiKey = process.env.BENCH_API_KEY ?? "";
  const cookie = process.env.BENCH_COOKIE ?? "";
  const { target, mix } = job;
  const count = mix ? Number.POSITIVE_INFINITY : (job.count ?? 1);
  const concurrency = Math.min(job.concurrency ?? 1, count);
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const chunk = payloadChunk();
  const sizes = new Set(mix?.sizes ?? [job.bytes]);
  const contents = new Map([...sizes].map((bytes) => [bytes, payloadContent(bytes, chunk, mix?.offset ?? 0)]));

  const upload = (content: Content, index: number): Promise<UploadOutcome> => {
    if (target.route === "direct") {
      return directUpload(
        agent,
        target.servicesUrl,
        apiKey,
        count > 1 ? `${target.key}-${index}` : target.key,
        content,
      );
    }
    if (target.route === "web") {
      const fields = { cohortId: target.cohortId, kind: "submission" } as const;
      return webUpload(agent, target.webUrl, cookie, fields, `bench-${index}.csv`, content);
    }
    const { url, chunkBytes, cohortId, fileId } = target;
    const options: { headers: Record<string, string>; [other: string]: Record<string, string> } = cohortId
      ? { headers: { cookie }, metadata: { cohortId, kind: "submission", filename: "bench.csv" } }
      : fileId // storage's own tus route takes the file row's id as a header, not as metadata
        ? { headers: { "x-api-key": apiKey }, createHeaders: { "x-depot-file-id": fileId } }
        : { headers: {}, metadata: { filename: "bench.csv" } };
    return tusUpload(agent, { createUrl: url, chunkBytes, ...options }, content);
  };

  const uploads: UploadResult[] = [];
  let next = 0;
  let budget = mix?.budgetBytes ?? Number.POSITIVE_INFINITY;
  if (mix) await sleep(Math.max(0, mix.startAt - Date.now()));
  const startedAt = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let index = next++; index < count && !(mix && Date.now() >= mix.stopAt); index = next++) {
        const bytes = mix ? mix.sizes[index % mix.sizes.length]! : job.bytes;
        if (bytes > budget) return;
        budget -= bytes;
        const content = contents.get(bytes)!;
        const began = performance.now();
        const outcome = await upload(content, index).catch(
          (error: NodeJS.ErrnoException): UploadOutcome => ({ status: 0, sha256: null, error: error.code ?? "error" }),
        );
        const ms = performance.now() - began;
        uploads.push({ ...outcome, ms, endedAt: Date.now(), bytes, expectedSha256: content.sha256 });
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
