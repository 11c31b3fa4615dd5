/**
 * The upload client of `pnpm bench:web` and `pnpm bench`, run as its own process so that producing the bytes does not
 * share an event loop with a server or the bench. Usage: `node --import tsx bench/client.ts '<ClientJob as JSON>'`,
 * the API key in BENCH_API_KEY and the session cookie in BENCH_COOKIE. Prints one line of JSON: a ClientResult.
 *
 * The payload is the storage benchmark's (bench/payload.ts); its sha256 is computed before the clock starts, and each
 * upload counts only if the server reports that digest.
 */
import { Agent } from "node:http";
import { payloadChunk } from "./payload";
import { directUpload, payloadContent, runClientProcess, tusUpload, type UploadOutcome, webUpload } from "./uploads";

export type Target =
  | { route: "direct"; servicesUrl: string; key: string }
  | { route: "web"; webUrl: string; cohortId: string }
  | { route: "tus"; webUrl: string; cohortId: string; chunkBytes: number }
  | { route: "tus-baseline"; url: string; chunkBytes: number };

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
    switch (target.route) {
      case "direct":
        return directUpload(
          agent,
          target.servicesUrl,
          apiKey,
          count > 1 ? `${target.key}-${index}` : target.key,
          content,
        );
      case "web":
        return webUpload(
          agent,
          target.webUrl,
          cookie,
          { cohortId: target.cohortId, kind: "submission" },
          "bench.csv",
          content,
        );
      case "tus":
        return tusUpload(
          agent,
          {
            createUrl: new URL("/api/uploads/tus/", target.webUrl).toString(),
            headers: { cookie },
            metadata: { cohortId: target.cohortId, kind: "submission", filename: "bench.csv" },
            chunkBytes: target.chunkBytes,
          },
          content,
        );
      case "tus-baseline":
        return tusUpload(
          agent,
          { createUrl: target.url, headers: {}, metadata: { filename: "bench.csv" }, chunkBytes: target.chunkBytes },
          content,
        );
    }
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
