import type { IncomingHttpHeaders } from "node:http";
import { type Readable, Transform, type TransformCallback, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { DepotError, ERROR_STATUS, type ErrorBody, type ErrorCode, HEADER, isErrorBody } from "@depot/contract";
import type { User } from "@depot/db";
import { describeError } from "@depot/telemetry";
import got from "got";
import { getEnv } from "./env";
import { logger } from "./log";
import type { RequestInfo } from "./request";
import { ByteLimit } from "./uploads";

/*
 * Every call from the web to the storage service goes through this module: small requests (callStorage), bytes
 * to storage (streamToStorage) and bytes from it (streamFromStorage). It alone knows the service's address and
 * the internal API key, when a call may be repeated, and what a lost service becomes for the person: a 502
 * bad_gateway in Depot's error shape, never a bare 500.
 */

/** The connection broke before storage answered: refused, reset, or closed under the request (socket hang up). */
const CONNECTION_FAILURES = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE"]);

/**
 * When a call may go out once more after its connection failed before any answer:
 * - "safe": repeating it changes nothing (HEAD, GET, OPTIONS, a DELETE whose answer the caller ignores), so a
 *   reset or a hang-up (a kept-alive socket storage had just closed, a storage restart) is tried once more;
 * - "unsent": only when the connection was refused, so storage never saw the request (a POST, or a DELETE whose
 *   second answer, 404, would misreport the first one's success).
 * A body the web has started to send is never sent again (streamToStorage does not repeat): a tus client resumes.
 */
export type Repeat = "safe" | "unsent";

const REPEATS_SAFELY = new Set(["GET", "HEAD", "OPTIONS"]);

function failedBeforeAnswer(error: unknown): string | undefined {
  const e = error as { code?: string; response?: unknown } | null;
  return e?.response === undefined && e?.code && CONNECTION_FAILURES.has(e.code) ? e.code : undefined;
}

function mayRepeat(error: unknown, repeat: Repeat): boolean {
  const code = failedBeforeAnswer(error);
  return code === "ECONNREFUSED" || (code !== undefined && repeat === "safe");
}

/** A storage service that could not be reached or did not answer: the person gets 502, the log says why. */
function unreachable(error: unknown, path: string): DepotError {
  logger.warn({ error: describeError(error), path }, "storage service call failed");
  return failedBeforeAnswer(error)
    ? new DepotError("bad_gateway", "the storage service is unreachable; try again shortly")
    : new DepotError("bad_gateway", "the storage service did not answer");
}

const urlOf = (path: string) => `${getEnv().servicesUrl}/${path}`;
const withKey = (headers: Record<string, string> = {}) => ({ [HEADER.apiKey]: getEnv().apiKey, ...headers });

/** How long a connection to storage may take to open (it is on the private network). */
const CONNECT_TIMEOUT_MS = 5_000;

/**
 * A small request to storage and its (small, JSON) answer, whatever its status: the caller decides what a status
 * means. Throws bad_gateway when storage cannot be reached, after the one repeat `repeat` allows.
 */
export async function callStorage(
  method: "GET" | "HEAD" | "OPTIONS" | "POST" | "DELETE",
  path: string,
  options: {
    headers?: Record<string, string>;
    searchParams?: Record<string, string>;
    timeoutMs?: number;
    repeat?: Repeat;
  } = {},
): Promise<StorageReply> {
  const repeat = options.repeat ?? (REPEATS_SAFELY.has(method) ? "safe" : "unsent");
  for (let attempt = 1; ; attempt++) {
    try {
      const res = await got(urlOf(path), {
        method,
        headers: withKey(options.headers),
        searchParams: options.searchParams,
        throwHttpErrors: false,
        retry: { limit: 0 },
        timeout: { connect: CONNECT_TIMEOUT_MS, request: options.timeoutMs ?? 30_000 },
      });
      return { statusCode: res.statusCode, headers: res.headers, body: res.body };
    } catch (error) {
      if (attempt === 1 && mayRepeat(error, repeat)) continue;
      throw unreachable(error, path);
    }
  }
}

/**
 * Bytes from storage (a download): its status and headers once they arrive, and the body as a stream the caller
 * passes on or destroys. A GET, so a connection that fails before the answer is tried once more.
 */
export async function streamFromStorage(
  path: string,
  options: { headers: Record<string, string>; idleMs: number },
): Promise<{ statusCode: number; headers: IncomingHttpHeaders; body: Readable }> {
  for (let attempt = 1; ; attempt++) {
    const upstream = got.stream(urlOf(path), {
      headers: withKey(options.headers),
      throwHttpErrors: false,
      retry: { limit: 0 },
      timeout: { connect: CONNECT_TIMEOUT_MS, socket: options.idleMs },
    });
    // A failure after the answer reaches whoever reads the body (Readable.toWeb); it must never go unheard.
    upstream.on("error", () => {});
    try {
      const response = await new Promise<{ statusCode: number; headers: IncomingHttpHeaders }>((resolve, reject) => {
        upstream.once("response", resolve);
        upstream.once("error", reject);
      });
      return { statusCode: response.statusCode, headers: response.headers, body: upstream };
    } catch (error) {
      upstream.destroy();
      if (attempt === 1 && mayRepeat(error, "safe")) continue;
      throw unreachable(error, path);
    }
  }
}

/** Headers that let the storage tier write audit rows joined to ours: request id and actor. */
export function forwardedHeaders(info: RequestInfo, user: User | null, fileId?: string): Record<string, string> {
  return {
    [HEADER.requestId]: info.requestId,
    [HEADER.actorIp]: info.ip,
    ...(info.userAgent ? { [HEADER.actorUserAgent]: info.userAgent.replace(/[^\x20-\x7e]/g, "") } : {}),
    ...(user ? { [HEADER.actorUserId]: user.id } : {}),
    ...(fileId ? { [HEADER.fileId]: fileId } : {}),
  };
}

export interface StorageReply {
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: string;
}

const MAX_REPLY_BYTES = 64 * 1024;

/** How long storage may take to answer once it has every byte: as long as the TLS proxy waits for the web. */
const STORAGE_ANSWER_TIMEOUT_MS = 60 * 60_000;

const STATUS_MESSAGES: Record<number, string> = {
  503: "the storage backend is unavailable; nothing was kept, try again later",
  507: "the storage disk is full; nothing was kept",
  413: "the upload is larger than the storage service accepts",
};

/** Passes bytes through and says when the first of them (or the end) reached it. */
class FirstBytes extends Transform {
  private arrive!: () => void;
  readonly arrived = new Promise<void>((resolve) => {
    this.arrive = resolve;
  });
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
    this.arrive();
    callback(null, chunk);
  }
  override _flush(callback: TransformCallback) {
    this.arrive();
    callback();
  }
}

/**
 * Streams `source` to the storage service and returns its (small JSON) reply. The got stream sits in the
 * middle of the pipeline so a failure of either side rejects: the caller never waits on a dead upload.
 *
 * The request to storage starts only once the first bytes have passed the checks (the content check holds back
 * its first 512 bytes): a client that starts slowly, a byte every few seconds, is timed by the web's idle rule
 * alone, and storage never sees a connection from the web that sends nothing while the web waits for its client.
 */
export async function streamToStorage(options: {
  path: string;
  method: "POST" | "PATCH" | "PUT";
  source: Readable;
  headers: Record<string, string>;
  /** More bytes than this fail the transfer with too_large: the web enforces the limit too. */
  maxBytes: number;
  /** Sees the bytes on their way (the content check); its DepotError fails the transfer. */
  inspect?: Transform;
}): Promise<StorageReply> {
  const through = options.inspect ? [options.inspect] : [];
  const checked = new FirstBytes();
  const reading = pipeline([options.source, ...through, new ByteLimit(options.maxBytes), checked]);
  reading.catch(() => {}); // awaited below; a failure before storage is reached surfaces there
  let reply: { statusCode: number; headers: IncomingHttpHeaders } | undefined;
  const chunks: Buffer[] = [];
  try {
    await Promise.race([checked.arrived, reading.then(() => checked.arrived)]);
    const upstream = got.stream(urlOf(options.path), {
      method: options.method,
      headers: withKey(options.headers),
      throwHttpErrors: false,
      retry: { limit: 0 },
      // No idle timer on this socket: a client or a storage service that stops moving bytes stalls the person's own
      // connection, which the web server's idle rule closes, and that fails this pipeline. Once every byte is sent,
      // storage may be quiet for a long time while it finishes (a tus join on S3), up to STORAGE_ANSWER_TIMEOUT_MS.
      timeout: { connect: CONNECT_TIMEOUT_MS, response: STORAGE_ANSWER_TIMEOUT_MS },
    });
    upstream.on("response", (response: { statusCode: number; headers: IncomingHttpHeaders }) => {
      reply = response;
    });
    let received = 0;
    // Storage may refuse while bytes still flow (disk full, S3 gone) and close gracefully; got then neither errors
    // nor takes more bytes, so the whole pipeline would wait for ever. Its complete refusal ends the transfer.
    const refused = new AbortController();
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        received += chunk.length;
        if (received > MAX_REPLY_BYTES) return callback(new Error("storage reply too large"));
        chunks.push(chunk);
        callback();
      },
      final(callback) {
        if (reply && reply.statusCode >= 400) refused.abort();
        callback();
      },
    });
    await Promise.all([pipeline([checked, upstream, sink], { signal: refused.signal }), reading]);
  } catch (error) {
    if (error instanceof DepotError) throw error;
    // Storage may refuse mid-stream (disk full, S3 gone) and close while we still send: its status says why.
    if (reply && reply.statusCode >= 400) {
      throw storageError({
        statusCode: reply.statusCode,
        headers: reply.headers,
        body: Buffer.concat(chunks).toString("utf8"),
      });
    }
    // Never repeated: the body is on its way (the client resumes a tus upload, or sends a single upload again).
    logger.warn({ error: describeError(error), path: options.path }, "storage service transfer failed");
    throw new DepotError(
      "bad_gateway",
      failedBeforeAnswer(error) === "ECONNREFUSED"
        ? "the storage service is unreachable; nothing was kept, try again shortly"
        : "the storage service failed during the transfer; nothing was kept",
    );
  }
  if (!reply) throw new DepotError("bad_gateway", "the storage service did not answer");
  // headers is a getter on the response prototype: copy it, do not spread.
  return { statusCode: reply.statusCode, headers: reply.headers, body: Buffer.concat(chunks).toString("utf8") };
}

/** Storage's refusal, passed on when it concerns the person's request; our own faults become 502. */
export function storageError(reply: StorageReply): DepotError {
  let body: ErrorBody | undefined;
  try {
    const parsed = JSON.parse(reply.body) as unknown;
    if (isErrorBody(parsed)) body = parsed;
  } catch {}
  if (reply.statusCode === 401 || reply.statusCode === 500 || body?.error.code === "internal") {
    return new DepotError("bad_gateway", "the storage service could not complete the request");
  }
  if (body) return new DepotError(body.error.code, body.error.message);
  const byStatus = Object.entries(ERROR_STATUS).find(([, status]) => status === reply.statusCode)?.[0] as
    | ErrorCode
    | undefined;
  return new DepotError(
    byStatus ?? "bad_gateway",
    STATUS_MESSAGES[reply.statusCode] ?? "the storage service refused the request",
  );
}

export interface StorageHealth {
  reachable: boolean;
  status: "ok" | "degraded" | "unreachable";
  detail: Record<string, unknown> | null;
  message?: string;
}

export async function fetchStorageHealth(): Promise<StorageHealth> {
  try {
    const res = await callStorage("GET", "internal/storage/health", { timeoutMs: 5_000 });
    const body = JSON.parse(res.body) as Record<string, unknown>;
    if (isErrorBody(body)) return { reachable: true, status: "degraded", detail: null, message: body.error.message };
    return { reachable: true, status: res.statusCode === 200 ? "ok" : "degraded", detail: body };
  } catch {
    return { reachable: false, status: "unreachable", detail: null, message: "the storage service did not answer" };
  }
}

/** Bytes and files per top-level prefix (the cohort id) on every disk, summed; null when storage is down. */
export async function fetchStorageUsage(): Promise<Map<string, { bytes: number; files: number }> | null> {
  try {
    const res = await callStorage("GET", "internal/storage/usage", { timeoutMs: 10_000 });
    if (res.statusCode !== 200) return null;
    const body = JSON.parse(res.body) as { disks: { byPrefix: Record<string, { bytes: number; files: number }> }[] };
    const total = new Map<string, { bytes: number; files: number }>();
    for (const disk of body.disks) {
      for (const [prefix, u] of Object.entries(disk.byPrefix)) {
        const sum = total.get(prefix) ?? { bytes: 0, files: 0 };
        total.set(prefix, { bytes: sum.bytes + u.bytes, files: sum.files + u.files });
      }
    }
    return total;
  } catch {
    return null;
  }
}
