/**
 * The upload client of every benchmark, run as its own process so that producing the bytes does not share an event
 * loop with a server or the bench. Usage: `node --import tsx bench/client.ts '<ClientJob as JSON>'`, the API key in
 * BENCH_API_KEY and the session cookie in BENCH_COOKIE. Prints one line of JSON: a ClientResult.
 *
 * The payload is bench/payload.ts's; the digest of every size is computed before the clock starts, and an upload
 * counts only if the server reports that digest. Bodies are written piece by piece with backpressure on a keep-alive
 * agent, as Depot's routes (and @tus/server) expect them.
 */
import { once } from "node:events";
import { Agent, type IncomingHttpHeaders, type IncomingMessage, request } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { type Content, payloadChunk, payloadContent } from "./payload";

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

/**
 * sha256 is what the server reported (null when it failed or reports none); error its error code, never its message;
 * fileId the file's id, for deleting it afterwards; finalRequestMs the time of tus's last PATCH, which on Depot also
 * completes the upload.
 */
type UploadOutcome = {
  status: number;
  sha256: string | null;
  error?: string;
  fileId?: string;
  finalRequestMs?: number;
};

/** One upload: its outcome, when it was answered (epoch ms) and the digest of the bytes sent. */
export type UploadResult = UploadOutcome & { ms: number; endedAt: number; bytes: number; expectedSha256: string };

export type ClientResult = { uploads: UploadResult[] };

const job = JSON.parse(process.argv[2] ?? "") as ClientJob;
const apiKey = process.env.BENCH_API_KEY ?? "";
const cookie = process.env.BENCH_COOKIE ?? "";
const count = job.mix ? Number.POSITIVE_INFINITY : (job.count ?? 1);
const concurrency = Math.min(job.concurrency ?? 1, count);
const agent = new Agent({ keepAlive: true, maxSockets: concurrency });

type Answer = { status: number; headers: IncomingHttpHeaders; body: string };

/** One request whose body is `pieces`, written with backpressure. */
async function exchange(url: URL, method: string, headers: Record<string, string>, pieces: Iterable<Buffer>) {
  const req = request(url, { method, headers, agent });
  const responded = new Promise<IncomingMessage>((resolve, reject) => {
    req.once("response", resolve);
    req.once("error", reject);
  });
  // A server that answers early (a refusal) has stopped reading: stop writing then, too.
  let answered = false;
  const settle = () => {
    answered = true;
  };
  responded.then(settle, settle);
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

/** A refused request as an outcome: its status and the server's error code (Depot's `{ "error": { "code" } }`). */
function refused(answer: Answer, fileId?: string): UploadOutcome {
  const error = /^\{"error":\{"code":"([^"]+)"/.exec(answer.body)?.[1] ?? "unknown";
  return { status: answer.status, sha256: null, fileId, error };
}

const octets = (bytes: number, contentType = "application/octet-stream") => ({
  "content-type": contentType,
  "content-length": String(bytes),
});

/** Straight to the storage service: `POST /internal/storage/upload?disk=workspace&key=…` with the API key. */
async function directUpload(servicesUrl: string, key: string, content: Content): Promise<UploadOutcome> {
  const url = new URL(`/internal/storage/upload?${new URLSearchParams({ disk: "workspace", key })}`, servicesUrl);
  const headers = { "x-api-key": apiKey, ...octets(content.bytes) };
  const answer = await exchange(url, "POST", headers, content.pieces(0, content.bytes));
  if (answer.status !== 201) return refused(answer);
  return { status: answer.status, sha256: (JSON.parse(answer.body) as { sha256: string }).sha256 };
}

/** Through the web: multipart `POST /api/uploads` with cohortId and kind first, then the file part. */
async function webUpload(webUrl: string, cohortId: string, index: number, content: Content): Promise<UploadOutcome> {
  const boundary = `----depotbench${Math.random().toString(16).slice(2)}`;
  const field = (name: string, value: string) =>
    `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
  const preamble = Buffer.from(
    `${field("cohortId", cohortId)}${field("kind", "submission")}--${boundary}\r\n` +
      `Content-Disposition: form-data; name="file"; filename="bench-${index}.csv"\r\nContent-Type: text/csv\r\n\r\n`,
  );
  const epilogue = Buffer.from(`\r\n--${boundary}--\r\n`);
  const type = `multipart/form-data; boundary=${boundary}`;
  const headers = { cookie, ...octets(preamble.length + content.bytes + epilogue.length, type) };
  const body = [preamble, ...content.pieces(0, content.bytes), epilogue];
  const answer = await exchange(new URL("/api/uploads", webUrl), "POST", headers, body);
  if (answer.status !== 201) return refused(answer);
  const stored = JSON.parse(answer.body) as { id: string; sha256: string };
  return { status: answer.status, sha256: stored.sha256, fileId: stored.id };
}

/** tus 1.0: POST creation, then sequential PATCHes of `chunkBytes`; Depot answers the final PATCH with X-Depot-Sha256. */
async function tusUpload(target: Target & { route: "tus" }, content: Content): Promise<UploadOutcome> {
  const { url, chunkBytes, cohortId, fileId: rowId } = target;
  // Through the web as the signed-in user; to storage's own route with the API key and the file row's id as a
  // header; to a baseline as anyone.
  const tus = { "tus-resumable": "1.0.0", ...(cohortId ? { cookie } : rowId ? { "x-api-key": apiKey } : {}) };
  const metadata = { ...(cohortId ? { cohortId, kind: "submission" } : {}), filename: "bench.csv" };
  const encoded = Object.entries(metadata).map(([name, value]) => `${name} ${Buffer.from(value).toString("base64")}`);
  const creation: Record<string, string> = rowId
    ? { "x-depot-file-id": rowId }
    : { "upload-metadata": encoded.join(",") };
  const createHeaders = { ...tus, "upload-length": String(content.bytes), ...creation, "content-length": "0" };
  const created = await exchange(new URL(url), "POST", createHeaders, []);
  if (created.status !== 201 || typeof created.headers.location !== "string") return refused(created);
  const location = new URL(created.headers.location, url);
  const fileId = created.headers["x-depot-file-id"]?.toString();
  let last: Answer | undefined;
  let lastStartedAt = 0;
  for (let offset = 0; offset < content.bytes; offset += chunkBytes) {
    const length = Math.min(chunkBytes, content.bytes - offset);
    lastStartedAt = performance.now();
    const headers = { ...tus, "upload-offset": String(offset), ...octets(length, "application/offset+octet-stream") };
    last = await exchange(location, "PATCH", headers, content.pieces(offset, length));
    if (last.status !== 204) return refused(last, fileId);
  }
  const sha256 = last?.headers["x-depot-sha256"];
  const finalRequestMs = performance.now() - lastStartedAt;
  return { status: last?.status ?? 0, sha256: typeof sha256 === "string" ? sha256 : null, fileId, finalRequestMs };
}

async function main(): Promise<ClientResult> {
  const { target, mix } = job;
  const chunk = payloadChunk();
  const sizes = new Set(mix?.sizes ?? [job.bytes]);
  const contents = new Map([...sizes].map((bytes) => [bytes, payloadContent(bytes, chunk, mix?.offset ?? 0)]));
  const upload = (content: Content, index: number): Promise<UploadOutcome> =>
    target.route === "direct"
      ? directUpload(target.servicesUrl, count > 1 ? `${target.key}-${index}` : target.key, content)
      : target.route === "web"
        ? webUpload(target.webUrl, target.cohortId, index, content)
        : tusUpload(target, content);

  const uploads: UploadResult[] = [];
  let next = 0;
  let budget = mix?.budgetBytes ?? Number.POSITIVE_INFINITY;
  if (mix) await sleep(Math.max(0, mix.startAt - Date.now()));
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
  agent.destroy();
  return { uploads };
}

// A failure prints the error's name, code and message only.
main().then(
  (result) => process.stdout.write(`${JSON.stringify(result)}\n`),
  (error: { name?: string; code?: string; message?: string }) => {
    console.error(`bench client failed: ${error.name}${error.code ? ` (${error.code})` : ""}: ${error.message}`);
    process.exit(1);
  },
);
