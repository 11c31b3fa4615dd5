/**
 * The upload client of the storage benchmark, run as its own process so that producing the bytes does not share an
 * event loop with the service or the bench. Usage: `node --import tsx bench/client.ts '<ClientJob as JSON>'` with
 * the API key in BENCH_API_KEY. Prints one line of JSON: a ClientResult.
 */

import { once } from "node:events";
import { Agent, type IncomingHttpHeaders, type IncomingMessage, request } from "node:http";
import { payloadChunk, payloadPieces } from "./payload";

export type ClientJob =
  | { mode: "plain"; baseUrl: string; bytes: number; key: string }
  | { mode: "tus"; baseUrl: string; bytes: number; fileId: string; chunkBytes: number };

export interface ClientResult {
  ms: number;
  status: number;
  /** What the service reported for the whole upload; null when it failed. */
  sha256: string | null;
  /** The service's error code on failure, never its message. */
  error?: string;
  /** tus only: the last PATCH, which also joins the chunks into the final object. */
  finalRequestMs?: number;
}

interface Exchange {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

const agent = new Agent({ keepAlive: true, maxSockets: 1 });

async function exchange(
  url: URL,
  method: string,
  headers: Record<string, string>,
  pieces: Iterable<Buffer>,
): Promise<Exchange> {
  const req = request(url, { method, headers, agent });
  const responded = new Promise<IncomingMessage>((resolve, reject) => {
    req.once("response", resolve);
    req.once("error", reject);
  });
  // A service that answers early (a refusal) has stopped reading: stop writing then, too.
  let answered = false;
  responded.then(
    () => {
      answered = true;
    },
    () => {
      answered = true;
    },
  );
  for (const piece of pieces) {
    if (answered) break;
    if (!req.write(piece)) await Promise.race([once(req, "drain"), responded]);
  }
  req.end();
  const response = await responded;
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk as Buffer);
  return { status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString("utf8") };
}

function errorCode(body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: { code?: unknown } };
    return typeof parsed.error?.code === "string" ? parsed.error.code : "unknown";
  } catch {
    return "unknown";
  }
}

async function plainUpload(job: Extract<ClientJob, { mode: "plain" }>, apiKey: string, chunk: Buffer) {
  const url = new URL("/internal/storage/upload", job.baseUrl);
  url.searchParams.set("disk", "workspace");
  url.searchParams.set("key", job.key);
  const headers = {
    "x-api-key": apiKey,
    "content-type": "application/octet-stream",
    "content-length": String(job.bytes),
  };
  const answer = await exchange(url, "POST", headers, payloadPieces(job.bytes, chunk));
  if (answer.status !== 201) return { status: answer.status, sha256: null, error: errorCode(answer.body) };
  return { status: answer.status, sha256: (JSON.parse(answer.body) as { sha256: string }).sha256 };
}

async function tusUpload(job: Extract<ClientJob, { mode: "tus" }>, apiKey: string, chunk: Buffer) {
  const tus = { "x-api-key": apiKey, "tus-resumable": "1.0.0" };
  const created = await exchange(
    new URL("/internal/tus/", job.baseUrl),
    "POST",
    { ...tus, "upload-length": String(job.bytes), "x-depot-file-id": job.fileId, "content-length": "0" },
    [],
  );
  if (created.status !== 201 || typeof created.headers.location !== "string") {
    return { status: created.status, sha256: null, error: errorCode(created.body) };
  }
  const location = new URL(created.headers.location, job.baseUrl);
  let offset = 0;
  let last: Exchange | undefined;
  let lastStartedAt = 0;
  while (offset < job.bytes) {
    const length = Math.min(job.chunkBytes, job.bytes - offset);
    lastStartedAt = performance.now();
    last = await exchange(
      location,
      "PATCH",
      {
        ...tus,
        "upload-offset": String(offset),
        "content-type": "application/offset+octet-stream",
        "content-length": String(length),
      },
      payloadPieces(length, chunk, offset),
    );
    if (last.status !== 204) return { status: last.status, sha256: null, error: errorCode(last.body) };
    offset += length;
  }
  const finalRequestMs = performance.now() - lastStartedAt;
  const sha256 = last?.headers["x-depot-sha256"];
  return { status: last?.status ?? 0, sha256: typeof sha256 === "string" ? sha256 : null, finalRequestMs };
}

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2] ?? "") as ClientJob;
  const apiKey = process.env.BENCH_API_KEY;
  if (!apiKey) throw new Error("BENCH_API_KEY is not set");
  const chunk = payloadChunk();
  const startedAt = performance.now();
  const outcome = job.mode === "plain" ? await plainUpload(job, apiKey, chunk) : await tusUpload(job, apiKey, chunk);
  const result: ClientResult = { ms: performance.now() - startedAt, ...outcome };
  agent.destroy();
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((error: unknown) => {
  const e = error as { name?: string; code?: string; message?: string };
  process.stderr.write(`bench client failed: ${e.name ?? "Error"}${e.code ? ` (${e.code})` : ""}: ${e.message}\n`);
  process.exit(1);
});
