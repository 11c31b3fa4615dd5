/**
 * The HTTP side of the benchmark clients: one upload as Depot's routes (and @tus/server) expect it, written piece by
 * piece with backpressure on a keep-alive agent. No hashing here: the caller knows the digest of what it sends.
 */
import { once } from "node:events";
import { type Agent, type IncomingHttpHeaders, type IncomingMessage, request } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import type { Content } from "./payload";

export interface Exchange {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * One request whose body is `pieces`. With `abortAfter`, the connection is destroyed once that many body bytes
 * were written (a client that goes away mid-request), and the result is null.
 */
export async function exchange(
  agent: Agent,
  url: URL,
  method: string,
  headers: Record<string, string>,
  pieces: Iterable<Buffer>,
  abortAfter?: number,
): Promise<Exchange | null> {
  const req = request(url, { method, headers, agent });
  const responded = new Promise<IncomingMessage>((resolve, reject) => {
    req.once("response", resolve);
    req.once("error", reject);
  });
  // A server that answers early (a refusal) has stopped reading: stop writing then, too.
  let answered = false;
  responded.then(
    () => {
      answered = true;
    },
    () => {
      answered = true;
    },
  );
  let written = 0;
  for (const piece of pieces) {
    if (answered) break;
    if (abortAfter !== undefined && written + piece.length >= abortAfter) {
      const part = piece.subarray(0, Math.max(0, abortAfter - written));
      if (part.length > 0 && !req.write(part)) await Promise.race([once(req, "drain"), responded]).catch(() => {});
      // Give the bytes a moment to reach the server, then hang up as a dying client would.
      await sleep(50);
      req.destroy();
      await responded.catch(() => {});
      return null;
    }
    written += piece.length;
    if (!req.write(piece)) await Promise.race([once(req, "drain"), responded]);
  }
  req.end();
  const response = await responded;
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk as Buffer);
  return { status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString("utf8") };
}

export function errorCode(body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: { code?: unknown } };
    return typeof parsed.error?.code === "string" ? parsed.error.code : "unknown";
  } catch {
    return "unknown";
  }
}

export interface UploadOutcome {
  status: number;
  /** What the server reported for the whole upload; null when it failed or reports none. */
  sha256: string | null;
  /** The server's error code on failure, never its message. */
  error?: string;
  /** Web uploads: the file id, so the bench can delete the file afterwards. */
  fileId?: string;
  /** tus: the last PATCH, which on Depot also joins the chunks into the final object. */
  finalRequestMs?: number;
  /** tus with a pause: the connection was dropped mid-PATCH, HEAD told the offset and the upload went on. */
  resumedFrom?: number;
  /** tus with a pause: PATCHes refused (and retried) while the server still wound the dropped one down. */
  retries?: number;
  /** How each retried PATCH was refused: an error code with its status, or the transport error. */
  refusals?: string[];
}

/** Straight to the storage service: `POST /internal/storage/upload?disk=workspace&key=…` with the API key. */
export async function directUpload(
  agent: Agent,
  servicesUrl: string,
  apiKey: string,
  key: string,
  content: Content,
): Promise<UploadOutcome> {
  const url = new URL("/internal/storage/upload", servicesUrl);
  url.searchParams.set("disk", "workspace");
  url.searchParams.set("key", key);
  const headers = {
    "x-api-key": apiKey,
    "content-type": "application/octet-stream",
    "content-length": String(content.bytes),
  };
  const answer = (await exchange(agent, url, "POST", headers, content.pieces(0, content.bytes)))!;
  if (answer.status !== 201) return { status: answer.status, sha256: null, error: errorCode(answer.body) };
  return { status: answer.status, sha256: (JSON.parse(answer.body) as { sha256: string }).sha256 };
}

/** Through the web: multipart `POST /api/uploads` with cohortId and kind first, then the file part. */
export async function webUpload(
  agent: Agent,
  webUrl: string,
  cookie: string,
  fields: { cohortId: string; kind: "submission" | "precheck" },
  filename: string,
  content: Content,
): Promise<UploadOutcome> {
  const boundary = `----depotbench${Math.random().toString(16).slice(2)}`;
  const preamble = Buffer.from(
    `${Object.entries(fields)
      .map(([name, value]) => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`)
      .join("")}--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\n` +
      "Content-Type: text/csv\r\n\r\n",
  );
  const epilogue = Buffer.from(`\r\n--${boundary}--\r\n`);
  function* body() {
    yield preamble;
    yield* content.pieces(0, content.bytes);
    yield epilogue;
  }
  const answer = (await exchange(
    agent,
    new URL("/api/uploads", webUrl),
    "POST",
    {
      cookie,
      "content-type": `multipart/form-data; boundary=${boundary}`,
      "content-length": String(preamble.length + content.bytes + epilogue.length),
    },
    body(),
  ))!;
  if (answer.status !== 201) return { status: answer.status, sha256: null, error: errorCode(answer.body) };
  const stored = JSON.parse(answer.body) as { id: string; sha256: string; size: number };
  return { status: answer.status, sha256: stored.sha256, fileId: stored.id };
}

const base64 = (value: string) => Buffer.from(value, "utf8").toString("base64");

/** After a dropped connection, how long to wait before each new try (HEAD, then PATCH), like tus-js-client. */
const RESUME_RETRY_DELAYS_MS = [500, 1_000, 2_000, 4_000, 8_000, 15_000];

/**
 * tus 1.0: POST creation at `createUrl`, then sequential PATCHes of `chunkBytes`. With `pause`, the PATCH of chunk
 * `pause.chunk` is cut off half-way (the connection destroyed), HEAD asks for the offset, and the upload continues
 * from there; while the server is still winding the dropped request down it may refuse (409, a 5xx or a reset
 * connection), so from then on a failed PATCH is retried after a delay and a fresh HEAD, as tus clients do.
 * Depot answers the final PATCH with X-Depot-Sha256.
 */
export async function tusUpload(
  agent: Agent,
  options: {
    createUrl: string;
    headers: Record<string, string>;
    metadata?: Record<string, string>;
    /** Headers for the creation request only. */
    createHeaders?: Record<string, string>;
    chunkBytes: number;
    pause?: { chunk: number };
  },
  content: Content,
): Promise<UploadOutcome> {
  const tus = { ...options.headers, "tus-resumable": "1.0.0" };
  const metadata = Object.entries(options.metadata ?? {})
    .map(([name, value]) => `${name} ${base64(value)}`)
    .join(",");
  const created = (await exchange(
    agent,
    new URL(options.createUrl),
    "POST",
    {
      ...tus,
      "upload-length": String(content.bytes),
      ...(metadata ? { "upload-metadata": metadata } : {}),
      ...options.createHeaders,
      "content-length": "0",
    },
    [],
  ))!;
  if (created.status !== 201 || typeof created.headers.location !== "string") {
    return { status: created.status, sha256: null, error: errorCode(created.body) };
  }
  const location = new URL(created.headers.location, options.createUrl);
  const fileIdHeader = created.headers["x-depot-file-id"];
  const fileId = typeof fileIdHeader === "string" ? fileIdHeader : undefined;
  const patch = (offset: number, abortAfter?: number) => {
    const length = Math.min(options.chunkBytes, content.bytes - offset);
    return exchange(
      agent,
      location,
      "PATCH",
      {
        ...tus,
        "upload-offset": String(offset),
        "content-type": "application/offset+octet-stream",
        "content-length": String(length),
      },
      content.pieces(offset, length),
      abortAfter === undefined ? undefined : Math.floor(length * abortAfter),
    );
  };

  let offset = 0;
  let chunkIndex = 0;
  let last: Exchange | undefined;
  let lastStartedAt = 0;
  let resumedFrom: number | undefined;
  let retries = 0;
  const refusals: string[] = [];
  const outcome = (fields: Partial<UploadOutcome> & { status: number }): UploadOutcome => ({
    sha256: null,
    fileId,
    ...fields,
    ...(resumedFrom !== undefined ? { resumedFrom, retries, refusals } : {}),
  });
  while (offset < content.bytes) {
    if (options.pause && chunkIndex === options.pause.chunk && resumedFrom === undefined) {
      await patch(offset, 0.5);
      const head = await headOffset(agent, location, tus).catch(() => null);
      if (head?.status !== 200 || head.offset === null) {
        return outcome({ status: head?.status ?? 0, error: "head_after_pause_failed" });
      }
      offset = head.offset;
      resumedFrom = offset;
      continue;
    }
    lastStartedAt = performance.now();
    let failure: { status: number; error: string } | undefined;
    try {
      last = (await patch(offset))!;
      if (last.status !== 204) failure = { status: last.status, error: errorCode(last.body) };
    } catch (error) {
      failure = { status: 0, error: (error as NodeJS.ErrnoException).code ?? "error" };
    }
    if (failure) {
      const where = `PATCH at ${offset}${resumedFrom !== undefined ? `, resumed from ${resumedFrom}` : ""}`;
      const delay = RESUME_RETRY_DELAYS_MS[retries];
      if (resumedFrom === undefined || delay === undefined) {
        return outcome({ status: failure.status, error: `${failure.error} (${where})` });
      }
      retries++;
      refusals.push(failure.status ? `${failure.status} ${failure.error}` : failure.error);
      await sleep(delay);
      const head = await headOffset(agent, location, tus).catch(() => null);
      if (head?.status === 200 && head.offset !== null) offset = head.offset;
      continue;
    }
    const reported = Number(last!.headers["upload-offset"]);
    offset = Number.isFinite(reported) ? reported : Math.min(content.bytes, offset + options.chunkBytes);
    chunkIndex++;
  }
  const sha256 = last?.headers["x-depot-sha256"];
  return outcome({
    status: last?.status ?? 0,
    sha256: typeof sha256 === "string" ? sha256 : null,
    finalRequestMs: performance.now() - lastStartedAt,
  });
}

async function headOffset(agent: Agent, location: URL, headers: Record<string, string>) {
  const answer = (await exchange(agent, location, "HEAD", headers, []))!;
  const offset = Number(answer.headers["upload-offset"]);
  return { status: answer.status, offset: Number.isFinite(offset) ? offset : null };
}
