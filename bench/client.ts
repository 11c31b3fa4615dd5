/**
 * The upload client of every benchmark, run as its own process so that producing the bytes does not share an event
 * loop with a server or the bench. Usage: `node --import tsx bench/client.ts '<ClientJob as JSON>'`, the API key in
 * BENCH_API_KEY and the session cookie in BENCH_COOKIE. Prints one line of JSON: a ClientResult.
 *
 * The payload is bench/payload.ts's; its sha256 is computed before the clock starts, and each upload counts only if
 * the server reports that digest.
 */
import { Agent } from "node:http";
import { payloadChunk } from "./payload";
import { directUpload, payloadContent, runClientProcess, tusUpload, type UploadOutcome, webUpload } from "./uploads";

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
}

export interface UploadResult extends UploadOutcome {
  ms: number;
  bytes: number;
  /** The digest of the bytes this client sent. */
  expectedSha256: string;
}

export interface ClientResult {
  /** From the first request to the last answer. */
  wallMs: number;
  uploads: UploadResult[];
}

runClientProcess("bench client", async (job: ClientJob): Promise<ClientResult> => {
  const apiKey = process.env.BENCH_API_KEY ?? "";
  const cookie = process.env.BENCH_COOKIE ?? "";
  const count = job.count ?? 1;
  const concurrency = Math.min(job.concurrency ?? 1, count);
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const content = payloadContent(job.bytes, payloadChunk());

  const uploadOne = (index: number): Promise<UploadOutcome> => {
    const { target } = job;
    if (target.route === "direct") {
      const key = count > 1 ? `${target.key}-${index}` : target.key;
      return directUpload(agent, target.servicesUrl, apiKey, key, content);
    }
    if (target.route === "web") {
      const fields = { cohortId: target.cohortId, kind: "submission" } as const;
      return webUpload(agent, target.webUrl, cookie, fields, "bench.csv", content);
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
  const startedAt = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let index = next++; index < count; index = next++) {
        const began = performance.now();
        const outcome = await uploadOne(index).catch(
          (error: NodeJS.ErrnoException): UploadOutcome => ({ status: 0, sha256: null, error: error.code ?? "error" }),
        );
        uploads.push({ ...outcome, ms: performance.now() - began, bytes: job.bytes, expectedSha256: content.sha256 });
      }
    }),
  );
  const result: ClientResult = { wallMs: performance.now() - startedAt, uploads };
  agent.destroy();
  return result;
});
