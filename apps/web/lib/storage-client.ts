import type { IncomingHttpHeaders } from "node:http";
import { type Readable, Transform, type TransformCallback, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { DepotError, ERROR_STATUS, type ErrorBody, type ErrorCode, HEADER, isErrorBody } from "@depot/contract";
import type { User } from "@depot/db";
import got from "got";
import { getEnv } from "./env";
import type { RequestInfo } from "./request";
import { ByteLimit } from "./uploads";

/** got, pointed at the storage service on the private network with the internal API key. */
export function storageClient() {
  const env = getEnv();
  return got.extend({
    prefixUrl: env.servicesUrl,
    headers: { [HEADER.apiKey]: env.apiKey },
    retry: { limit: 0 },
    throwHttpErrors: false,
  });
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
  const env = getEnv();
  const through = options.inspect ? [options.inspect] : [];
  const checked = new FirstBytes();
  const reading = pipeline([options.source, ...through, new ByteLimit(options.maxBytes), checked]);
  reading.catch(() => {}); // awaited below; a failure before storage is reached surfaces there
  let reply: { statusCode: number; headers: IncomingHttpHeaders } | undefined;
  const chunks: Buffer[] = [];
  try {
    await Promise.race([checked.arrived, reading.then(() => checked.arrived)]);
    const upstream = got.stream(`${env.servicesUrl}/${options.path}`, {
      method: options.method,
      headers: { [HEADER.apiKey]: env.apiKey, ...options.headers },
      throwHttpErrors: false,
      retry: { limit: 0 },
      // No idle timer on this socket: a client or a storage service that stops moving bytes stalls the person's own
      // connection, which the web server's idle rule closes, and that fails this pipeline. Once every byte is sent,
      // storage may be quiet for a long time while it finishes (a tus join on S3), up to STORAGE_ANSWER_TIMEOUT_MS.
      timeout: { connect: 5_000, response: STORAGE_ANSWER_TIMEOUT_MS },
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
    throw new DepotError("bad_gateway", "the storage service failed during the transfer; nothing was kept");
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
    const res = await storageClient().get("internal/storage/health", { timeout: { request: 5_000 } });
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
    const res = await storageClient().get("internal/storage/usage", { timeout: { request: 10_000 } });
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
