/**
 * The upload client of the storage benchmark, run as its own process so that producing the bytes does not share an
 * event loop with the service or the bench. Usage: `node --import tsx bench/storage-client.ts '<StorageClientJob as
 * JSON>'` with the API key in BENCH_API_KEY. Prints one line of JSON: a StorageClientResult.
 */
import { Agent } from "node:http";
import { payloadChunk, payloadPieces } from "./payload";
import { type Content, directUpload, runClientProcess, tusUpload, type UploadOutcome } from "./uploads";

export type StorageClientJob =
  | { mode: "plain"; baseUrl: string; bytes: number; key: string }
  | { mode: "tus"; baseUrl: string; bytes: number; fileId: string; chunkBytes: number };

export interface StorageClientResult extends UploadOutcome {
  /** From the first request to the last answer. */
  ms: number;
}

runClientProcess("bench client", async (job: StorageClientJob): Promise<StorageClientResult> => {
  const apiKey = process.env.BENCH_API_KEY;
  if (!apiKey) throw new Error("BENCH_API_KEY is not set");
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const chunk = payloadChunk();
  // No digest here: the bench knows the payload's and compares the service's against it.
  const content: Content = {
    bytes: job.bytes,
    sha256: "",
    pieces: (start, length) => payloadPieces(length, chunk, start),
  };
  const startedAt = performance.now();
  const outcome =
    job.mode === "plain"
      ? await directUpload(agent, job.baseUrl, apiKey, job.key, content)
      : await tusUpload(
          agent,
          {
            createUrl: new URL("/internal/tus/", job.baseUrl).toString(),
            headers: { "x-api-key": apiKey },
            // The storage service's own tus route takes the file row's id as a header, not as metadata.
            createHeaders: { "x-depot-file-id": job.fileId },
            chunkBytes: job.chunkBytes,
          },
          content,
        );
  const result = { ms: performance.now() - startedAt, ...outcome };
  agent.destroy();
  return result;
});
