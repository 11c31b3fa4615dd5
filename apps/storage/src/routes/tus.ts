import type { IncomingMessage, ServerResponse } from "node:http";
import { DepotError, ERROR_STATUS, type ErrorCode, HEADER, isErrorBody, isUuid, TUS_VERSION } from "@depot/contract";
import { findFile, findFileByUploadId } from "@depot/db";
import { Server as TusServer } from "@tus/server";
import { NodeRequest, sendNodeResponse } from "srvx/node";
import { header, type RequestContext, type StorageContext } from "../http/context";
import type { PgLocker } from "../tus/locker";
import { DepotStore, type TusRequestState, tusRequests } from "../tus/store";

const OVERRIDABLE = new Set(["PATCH", "DELETE", "HEAD", "POST", "OPTIONS"]);
/** Headers of @tus/server's answers meant for browsers; storage only talks to the web. */
const CORS = /^access-control-/i;

/** Depot's error code for a status @tus/server answered with (its own errors are plain text). */
function codeFor(status: number, text: string): ErrorCode {
  if (status === 409 && /offset/i.test(text)) return "offset_mismatch";
  if (status === 403) return "bad_request"; // @tus/server's missing Upload-Offset / Content-Type
  if (status === 501) return "not_implemented";
  if (status === 500) return "internal";
  const found = Object.entries(ERROR_STATUS).find(([, s]) => s === status)?.[0] as ErrorCode | undefined;
  return found ?? (status >= 500 ? "internal" : "bad_request");
}

/** One error answer: Depot's JSON shape, with the tus headers (Tus-Resumable on everything but OPTIONS). */
function tusError(res: ServerResponse, error: DepotError, extra: Record<string, string> = {}) {
  const body = JSON.stringify(error.toBody());
  res.writeHead(error.status, {
    "tus-resumable": TUS_VERSION,
    "cache-control": "no-store",
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(body),
    ...extra,
  });
  res.end(body);
}

/**
 * tus 1.0 at /internal/tus/ served by @tus/server (its handlers, header validation and Locker seam) with Depot's
 * DataStore and hooks. Around it, what @tus/server gets wrong against the spec: an unsupported Tus-Resumable is a
 * 412 with Tus-Version, X-HTTP-Method-Override is honoured, Upload-Checksum (no checksum extension) is refused
 * instead of ignored, and every error is Depot's JSON shape.
 */
export function createTusRoute(ctx: StorageContext, locker: PgLocker) {
  const store = new DepotStore(ctx);
  const tus = new TusServer({
    path: "/internal/tus",
    datastore: store,
    locker,
    relativeLocation: true,
    maxSize: ctx.env.maxUploadBytes,
    exposedHeaders: [HEADER.sha256, HEADER.size, HEADER.fileId],
    async onUploadCreate(req) {
      const state = tusRequests.getStore() as TusRequestState;
      const fileId = req.headers.get(HEADER.fileId) ?? "";
      if (!isUuid(fileId)) throw new DepotError("bad_request", "X-Depot-File-Id is required");
      const file = await findFile(ctx.db, fileId);
      if (!file) throw new DepotError("not_found", "no such file record");
      if (file.status !== "uploading" || file.uploadId)
        throw new DepotError("conflict", "this file is not waiting for an upload");
      state.file = file;
      return {};
    },
    async onUploadFinish(_req, upload) {
      const state = tusRequests.getStore() as TusRequestState;
      // Without state.finished an earlier request finished the upload (this one repeated the last PATCH).
      return { headers: await storedHeaders(upload.id, state.finished) };
    },
    onResponseError(_req, error) {
      if (error instanceof DepotError) return { status_code: error.status, body: JSON.stringify(error.toBody()) };
      return undefined;
    },
  });

  /** What the request that finished an upload answers with: the stored file's sha256, size and id. */
  async function storedHeaders(
    uploadId: string,
    finished?: TusRequestState["finished"],
  ): Promise<Record<string, string>> {
    if (!finished) {
      const file = await findFileByUploadId(ctx.db, uploadId);
      if (file?.status === "stored" && file.sha256 && file.size !== null) {
        finished = { size: file.size, sha256: file.sha256, fileId: file.id };
      }
    }
    if (!finished) return {};
    return {
      [HEADER.sha256]: finished.sha256,
      [HEADER.size]: String(finished.size),
      [HEADER.fileId]: finished.fileId,
    };
  }

  return async function handle(_ctx: StorageContext, request: RequestContext): Promise<void> {
    const { req, res } = request;
    const override = header(req, "x-http-method-override")?.toUpperCase();
    if (override && req.method === "POST" && OVERRIDABLE.has(override)) req.method = override;
    if (req.method !== "OPTIONS") {
      const version = header(req, "tus-resumable");
      if (version !== TUS_VERSION) {
        tusError(res, new DepotError("unsupported_version", `Tus-Resumable must be ${TUS_VERSION}`), {
          "tus-version": TUS_VERSION,
        });
        return;
      }
      if (req.method === "PATCH" && header(req, "content-type") !== "application/offset+octet-stream") {
        tusError(res, new DepotError("unsupported_type", "PATCH needs Content-Type: application/offset+octet-stream"));
        return;
      }
      if (header(req, "upload-checksum") !== undefined) {
        tusError(res, new DepotError("bad_request", "Upload-Checksum is not supported (no checksum extension)"));
        return;
      }
    }
    await tusRequests.run({ request }, () => serve(req, res));
  };

  async function serve(req: IncomingMessage, res: ServerResponse) {
    const response = await tus.handleWeb(new NodeRequest({ req, res }) as unknown as Request);
    const headers = new Headers();
    for (const [name, value] of response.headers) if (!CORS.test(name)) headers.set(name, value);
    // A client whose last PATCH answer was lost resumes with HEAD, finds the upload complete and stops there: the
    // HEAD is the only answer it gets, so it carries what that PATCH's answer would have. getUpload left the row.
    const state = tusRequests.getStore();
    if (req.method === "HEAD" && response.status === 200 && state?.upload?.status === "completed") {
      for (const [name, value] of Object.entries(await storedHeaders(state.upload.id, state.finished)))
        headers.set(name, value);
    }
    if (response.status < 400) {
      await sendNodeResponse(res, new Response(response.body, { status: response.status, headers }));
      return;
    }
    const text = await response.text();
    let body: string;
    try {
      const parsed = JSON.parse(text) as unknown;
      if (!isErrorBody(parsed)) throw new Error("not Depot's shape");
      body = text;
    } catch {
      body = JSON.stringify({
        error: {
          code: codeFor(response.status, text),
          message: text.trim() || `tus request refused (${response.status})`,
        },
      });
    }
    headers.set("content-type", "application/json; charset=utf-8");
    headers.set("content-length", String(Buffer.byteLength(body)));
    headers.set("tus-resumable", TUS_VERSION);
    await sendNodeResponse(res, new Response(body, { status: response.status, headers }));
  }
}
