/**
 * The upload client of every benchmark, run as its own process so that producing the bytes does not share an event
 * loop with a server or the bench. Usage: `node --import tsx bench/client.ts '<ClientJob as JSON>'`, the API key in
 * BENCH_API_KEY and the session cookie in BENCH_COOKIE. Prints one line of JSON: a ClientResult.
 *
 * The payload is bench/payload.ts's; the digest of every size is computed before the clock starts, and an upload
 * counts only if the server reports that digest. Every upload is written piece by piece with backpressure on a
 * keep-alive agent, as Depot's routes (and @tus/server) expect it.
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

interface UploadOutcome {
  status: number;
  /** What the server reported for the whole upload; null when it failed or reports none. */
  sha256: string | null;
  /** The server's error code on failure, never its message. */
  error?: string;
  /** Web uploads: the file id, so the bench can delete the file afterwards. */
  fileId?: string;
  /** tus: the last PATCH, which on Depot also completes the upload. */
  finalRequestMs?: number;
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

interface Exchange {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One request whose body is `pieces`, written with backpressure. */
async function exchange(
  agent: Agent,
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

/** A refused request as an outcome: its status and the server's error code. */
function refused(answer: Exchange, fileId?: string): UploadOutcome {
  let error = "unknown";
  try {
    const code = (JSON.parse(answer.body) as { error?: { code?: unknown } }).error?.code;
    if (typeof code === "string") error = code;
  } catch {
    // Not JSON: the code stays unknown.
  }
  return { status: answer.status, sha256: null, fileId, error };
}

/** Straight to the storage service: `POST /internal/storage/upload?disk=workspace&key=…` with the API key. */
async function directUpload(agent: Agent, servicesUrl: string, apiKey: string, key: string, content: Content) {
  const url = new URL(`/internal/storage/upload?${new URLSearchParams({ disk: "workspace", key })}`, servicesUrl);
  const headers = {
    "x-api-key": apiKey,
    "content-type": "application/octet-stream",
    "content-length": String(content.bytes),
  };
  const answer = await exchange(agent, url, "POST", headers, content.pieces(0, content.bytes));
  if (answer.status !== 201) return refused(answer);
  return { status: answer.status, sha256: (JSON.parse(answer.body) as { sha256: string }).sha256 };
}

/** Through the web: multipart `POST /api/uploads` with cohortId and kind first, then the file part. */
async function webUpload(
  agent: Agent,
  webUrl: string,
  cookie: string,
  cohortId: string,
  index: number,
  content: Content,
) {
  const boundary = `----depotbench${Math.random().toString(16).slice(2)}`;
  const field = (name: string, value: string) =>
    `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
  const preamble = Buffer.from(
    `${field("cohortId", cohortId)}${field("kind", "submission")}--${boundary}\r\n` +
      `Content-Disposition: form-data; name="file"; filename="bench-${index}.csv"\r\nContent-Type: text/csv\r\n\r\n`,
  );
  const epilogue = Buffer.from(`\r\n--${boundary}--\r\n`);
  const headers = {
    cookie,
    "content-type": `multipart/form-data; boundary=${boundary}`,
    "content-length": String(preamble.length + content.bytes + epilogue.length),
  };
  const body = [preamble, ...content.pieces(0, content.bytes), epilogue];
  const answer = await exchange(agent, new URL("/api/uploads", webUrl), "POST", headers, body);
  if (answer.status !== 201) return refused(answer);
  const stored = JSON.parse(answer.body) as { id: string; sha256: string };
  return { status: answer.status, sha256: stored.sha256, fileId: stored.id };
}

/**
 * tus 1.0: POST creation at `createUrl`, then sequential PATCHes of `chunkBytes`; Depot answers the final PATCH with
 * X-Depot-Sha256.
 */
async function tusUpload(
  agent: Agent,
  o: {
    createUrl: string;
    headers: Record<string, string>;
    metadata?: Record<string, string>;
    /** Headers for the creation request only. */
    createHeaders?: Record<string, string>;
    chunkBytes: number;
  },
  content: Content,
): Promise<UploadOutcome> {
  const tus = { ...o.headers, "tus-resumable": "1.0.0" };
  const metadata = Object.entries(o.metadata ?? {})
    .map(([name, value]) => `${name} ${Buffer.from(value, "utf8").toString("base64")}`)
    .join(",");
  const createHeaders = {
    ...tus,
    "upload-length": String(content.bytes),
    ...(metadata ? { "upload-metadata": metadata } : {}),
    ...o.createHeaders,
    "content-length": "0",
  };
  const created = await exchange(agent, new URL(o.createUrl), "POST", createHeaders, []);
  if (created.status !== 201 || typeof created.headers.location !== "string") return refused(created);
  const location = new URL(created.headers.location, o.createUrl);
  const fileId = created.headers["x-depot-file-id"]?.toString();
  let last: Exchange | undefined;
  let lastStartedAt = 0;
  for (let offset = 0; offset < content.bytes; ) {
    const length = Math.min(o.chunkBytes, content.bytes - offset);
    lastStartedAt = performance.now();
    const headers = {
      ...tus,
      "upload-offset": String(offset),
      "content-type": "application/offset+octet-stream",
      "content-length": String(length),
    };
    last = await exchange(agent, location, "PATCH", headers, content.pieces(offset, length));
    if (last.status !== 204) return refused(last, fileId);
    offset += length;
  }
  const sha256 = last?.headers["x-depot-sha256"];
  return {
    status: last?.status ?? 0,
    sha256: typeof sha256 === "string" ? sha256 : null,
    fileId,
    finalRequestMs: performance.now() - lastStartedAt,
  };
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
      const key = count > 1 ? `${target.key}-${index}` : target.key;
      return directUpload(agent, target.servicesUrl, apiKey, key, content);
    }
    if (target.route === "web") return webUpload(agent, target.webUrl, cookie, target.cohortId, index, content);
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
