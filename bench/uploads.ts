/**
 * The HTTP side of the benchmark clients: one upload as Depot's routes (and @tus/server) expect it, written piece by
 * piece with backpressure on a keep-alive agent. No hashing here: the caller knows the digest of what it sends.
 */
import { once } from "node:events";
import { type Agent, type IncomingHttpHeaders, type IncomingMessage, request } from "node:http";
import type { Content } from "./payload";

export interface Exchange {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One request whose body is `pieces`, written with backpressure. */
export async function exchange(
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
  /** tus: the last PATCH, which on Depot also completes the upload. */
  finalRequestMs?: number;
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
  const answer = await exchange(agent, url, "POST", headers, content.pieces(0, content.bytes));
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
  const answer = await exchange(
    agent,
    new URL("/api/uploads", webUrl),
    "POST",
    {
      cookie,
      "content-type": `multipart/form-data; boundary=${boundary}`,
      "content-length": String(preamble.length + content.bytes + epilogue.length),
    },
    body(),
  );
  if (answer.status !== 201) return { status: answer.status, sha256: null, error: errorCode(answer.body) };
  const stored = JSON.parse(answer.body) as { id: string; sha256: string; size: number };
  return { status: answer.status, sha256: stored.sha256, fileId: stored.id };
}

const _base64 = (value: string) => Buffer.from(value, "utf8").toString("base64");

/**
 * tus 1.0: POST creation at `createUrl`, then sequential PATCHes of `chunkBytes`; Depot answers the final PATCH with
 * X-Depot-Sha256.
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
  },
  content: Content,
): Promise<UploadOutcome> {
  const tus = { ...options.headers, "tus-resumable": "1.0.0" };
  const metadata = Object.entries(options.metadata ?? {})
    .map(([name, value]) => `${name} ${Buffer.from(value, "utf8").toString("base64")}`)
    .join(",");
  const created = await exchange(
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
  );
  if (created.status !== 201 || typeof created.headers.location !== "string") {
    return { status: created.status, sha256: null, error: errorCode(created.body) };
  }
  const location = new URL(created.headers.location, options.createUrl);
  const fileId = created.headers["x-depot-file-id"]?.toString();
  let last: Exchange | undefined;
  let lastStartedAt = 0;
  for (let offset = 0; offset < content.bytes; ) {
    const length = Math.min(options.chunkBytes, content.bytes - offset);
    lastStartedAt = performance.now();
    last = await exchange(
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
    );
    if (last.status !== 204) return { status: last.status, sha256: null, fileId, error: errorCode(last.body) };
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
