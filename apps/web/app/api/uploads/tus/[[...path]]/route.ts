import type { IncomingHttpHeaders } from "node:http";
import { Readable } from "node:stream";
import type { ReadableStream as NodeReadableStream } from "node:stream/web";
import { canonicalId, DepotError, HEADER, parseUploadMetadata, TUS_VERSION } from "@depot/contract";
import { discardUnstartedFile, type FileRow, findFileByUploadId, markFileFailed, type User } from "@depot/db";
import { api, type RouteContext, route } from "@/lib/api";
import { auditWeb } from "@/lib/audit";
import { ContentCheck } from "@/lib/content-check";
import { db } from "@/lib/db";
import { getEnv } from "@/lib/env";
import { extensionOf } from "@/lib/filenames";
import { can } from "@/lib/permissions";
import { type RequestInfo, requireSameOrigin } from "@/lib/request";
import { callStorage, forwardedHeaders, type StorageReply, streamToStorage } from "@/lib/storage-client";
import { beginUpload } from "@/lib/uploads";

export const dynamic = "force-dynamic";

/**
 * tus 1.0 for browsers and scripts, relayed to the storage service, which owns the protocol (@tus/server). This
 * route authenticates, checks same-origin, the cohort permission and that the upload is the person's own (through
 * the files row), runs the content check on the file's first bytes and the byte limit, audits, and relays: no
 * reading of storage's upload state, no second copy of the protocol's rules.
 */

type Context = { params: Promise<{ path?: string[] }> };

const PUBLIC_BASE = "/api/uploads/tus";
/** Request headers of the protocol, passed to storage as they came. */
const TUS_REQUEST = [
  "tus-resumable",
  "upload-length",
  "upload-defer-length",
  "upload-offset",
  "upload-metadata",
  "upload-concat",
  "upload-checksum",
  "content-type",
  "content-length",
];
/** Answer headers of the protocol, passed back as storage sent them. */
const TUS_ANSWER = [
  "tus-resumable",
  "tus-version",
  "tus-extension",
  "tus-max-size",
  "tus-checksum-algorithm",
  "upload-offset",
  "upload-length",
  "upload-defer-length",
  "upload-metadata",
  "upload-expires",
  "cache-control",
  "content-type",
  HEADER.sha256,
  HEADER.size,
  HEADER.fileId,
];
const ID = /^[A-Za-z0-9]{1,64}$/;

function tusHeadersOf(req: Request): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const name of TUS_REQUEST) {
    const value = req.headers.get(name);
    if (value !== null) headers[name] = value;
  }
  return headers;
}

/** Storage's answer, passed on; its own faults (the API key, a crash) are ours to report as 502. */
function relay(reply: StorageReply, extra: Record<string, string> = {}): Response {
  if (reply.statusCode === 401 || reply.statusCode === 500) {
    throw new DepotError("bad_gateway", "the storage service could not complete the request");
  }
  const headers = new Headers(extra);
  for (const name of TUS_ANSWER) {
    const value = (reply.headers as IncomingHttpHeaders)[name];
    if (typeof value === "string") headers.set(name, value);
  }
  const body = reply.statusCode === 204 || reply.statusCode === 304 || !reply.body ? null : reply.body;
  return new Response(body, { status: reply.statusCode, headers });
}

/** The upload must be this person's, in a cohort they may still upload to, on every request. */
async function ownedFile(user: User, id: string, ctx: RouteContext): Promise<FileRow> {
  if (!ID.test(id)) throw new DepotError("not_found", "no such upload");
  const file = await findFileByUploadId(db(), id);
  if (!file) throw new DepotError("not_found", "no such upload");
  // A refusal's access_denied row names the upload, its file and its cohort.
  Object.assign(ctx.target, { fileId: file.id, cohortId: file.cohortId, uploadId: id });
  if (file.uploaderId !== user.id || !(await can(user, "upload", file.cohortId))) {
    throw new DepotError("forbidden", "this upload belongs to someone else");
  }
  return file;
}

const bodyOf = (req: Request) =>
  req.body ? Readable.fromWeb(req.body as unknown as NodeReadableStream<Uint8Array>) : Readable.from([]);

type Handler = (req: Request, user: User, info: RequestInfo, id: string, ctx: RouteContext) => Promise<Response>;

async function guarded(req: Request, context: Context, method: string, handler: Handler) {
  const response = await route(req, "tus", async (ctx) => {
    ctx.target.tusMethod = method;
    if (method !== "HEAD") requireSameOrigin(req);
    const user = await ctx.requireUser();
    const path = (await context.params).path ?? [];
    if (path.length > 1) throw new DepotError("not_found", "no such upload");
    return await handler(req, user, ctx.info, path[0] ?? "", ctx);
  });
  // tus 1.0: every answer but OPTIONS carries Tus-Resumable, the web's own refusals included, and a 412 names
  // the versions this server speaks (also when storage's refusal arrived as an error mid-transfer).
  if (!response.headers.has("tus-resumable")) response.headers.set("tus-resumable", TUS_VERSION);
  if (response.status === 412 && !response.headers.has("tus-version")) response.headers.set("tus-version", TUS_VERSION);
  return response;
}

export async function OPTIONS() {
  return api(async () => {
    return relay(await callStorage("OPTIONS", "internal/tus/"));
  });
}

/** Creation (with its optional first bytes): metadata cohortId, kind, filename (and filetype), base64 per tus. */
async function create(req: Request, user: User, info: RequestInfo, id: string, ctx: RouteContext): Promise<Response> {
  if (id) throw new DepotError("bad_request", "create uploads at /api/uploads/tus/");
  if (req.headers.has("upload-concat")) {
    // Partial uploads carry none of Depot's metadata; storage judges concatenation (it refuses it) before any file.
    const reply = await callStorage("POST", "internal/tus/", {
      headers: { ...forwardedHeaders(info, user), ...tusHeadersOf(req), "content-length": "0" },
    });
    return relay(reply);
  }
  // Depot's own fields in the metadata choose the cohort and name the file; storage checks the protocol.
  const metadata = parseUploadMetadata(req.headers.get("upload-metadata") ?? undefined);
  ctx.target.cohortId = canonicalId(metadata.cohortId);
  const file = await beginUpload(user, {
    cohortId: metadata.cohortId,
    kind: metadata.kind,
    filename: metadata.filename ?? metadata.name,
    contentType: metadata.filetype ?? metadata.type,
  });
  let reply: StorageReply;
  try {
    reply = await streamToStorage({
      path: "internal/tus/",
      method: "POST",
      source: bodyOf(req),
      inspect: req.body ? new ContentCheck(extensionOf(file.originalName)) : undefined,
      maxBytes: getEnv().maxUploadBytes,
      headers: { ...forwardedHeaders(info, user, file.id), ...tusHeadersOf(req) },
    });
  } catch (error) {
    // A refusal (not a lost storage service) that left no resumable upload behind takes the row with it.
    const refused = error instanceof DepotError && error.code !== "bad_gateway";
    if (!(refused && (await discardUnstartedFile(db(), file.id)))) await markFileFailed(db(), file.id);
    throw error;
  }
  if (reply.statusCode !== 201) {
    // Storage refused the creation (protocol, length, metadata): nothing exists for this row, so it goes too.
    if (!(await discardUnstartedFile(db(), file.id))) await markFileFailed(db(), file.id);
    return relay(reply);
  }
  const uploadId =
    String(reply.headers.location ?? "")
      .split("/")
      .pop() ?? "";
  await auditWeb(info, user, {
    action: "chunked_upload_created",
    outcome: "success",
    cohortId: file.cohortId,
    fileId: file.id,
    disk: file.storageDisk,
    storageKey: file.storageKey,
    metadata: { uploadId, name: file.originalName, kind: file.kind },
  });
  await auditCompletion(info, user, file, uploadId, reply);
  return relay(reply, { location: `${PUBLIC_BASE}/${uploadId}`, [HEADER.fileId]: file.id });
}

async function auditCompletion(info: RequestInfo, user: User, file: FileRow, uploadId: string, reply: StorageReply) {
  const sha256 = reply.headers[HEADER.sha256];
  if (typeof sha256 !== "string") return;
  await auditWeb(info, user, {
    action: "chunked_upload_completed",
    outcome: "success",
    cohortId: file.cohortId,
    fileId: file.id,
    disk: file.storageDisk,
    storageKey: file.storageKey,
    bytes: Number(reply.headers[HEADER.size]),
    sha256,
    metadata: { uploadId, name: file.originalName },
  });
}

async function head(req: Request, user: User, info: RequestInfo, id: string, ctx: RouteContext): Promise<Response> {
  await ownedFile(user, id, ctx);
  const reply = await callStorage("HEAD", `internal/tus/${id}`, {
    headers: { ...forwardedHeaders(info, user), "tus-resumable": req.headers.get("tus-resumable") ?? "" },
  });
  return relay({ ...reply, body: "" });
}

async function patch(req: Request, user: User, info: RequestInfo, id: string, ctx: RouteContext): Promise<Response> {
  const file = await ownedFile(user, id, ctx);
  // The first bytes of the file get the same content check as a single upload (storage refuses a wrong offset).
  const check = req.headers.get("upload-offset") === "0" ? new ContentCheck(extensionOf(file.originalName)) : undefined;
  const reply = await streamToStorage({
    path: `internal/tus/${id}`,
    method: "PATCH",
    source: bodyOf(req),
    inspect: check,
    maxBytes: getEnv().maxUploadBytes,
    headers: { ...forwardedHeaders(info, user, file.id), ...tusHeadersOf(req) },
  });
  if (reply.statusCode === 204 && check?.mismatch) {
    await auditWeb(info, user, {
      action: "content_mismatch",
      outcome: "success",
      cohortId: file.cohortId,
      fileId: file.id,
      metadata: { ...check.mismatch, name: file.originalName, uploadId: id },
    });
  }
  if (reply.statusCode === 204) await auditCompletion(info, user, file, id, reply);
  return relay(reply);
}

async function terminate(
  req: Request,
  user: User,
  info: RequestInfo,
  id: string,
  ctx: RouteContext,
): Promise<Response> {
  const file = await ownedFile(user, id, ctx);
  // Not repeated after a reset: a second DELETE of a terminated upload would answer 404 for the first's success.
  const reply = await callStorage("DELETE", `internal/tus/${id}`, {
    headers: { ...forwardedHeaders(info, user, file.id), "tus-resumable": req.headers.get("tus-resumable") ?? "" },
  });
  // Ending a finished upload leaves the file alone (storage answers 204 and does nothing): nothing to audit.
  if (reply.statusCode === 204 && file.status === "uploading") {
    await auditWeb(info, user, {
      action: "chunked_upload_aborted",
      outcome: "success",
      cohortId: file.cohortId,
      fileId: file.id,
      metadata: { uploadId: id, reason: "cancelled" },
    });
  }
  return relay(reply);
}

const HANDLERS: Record<string, Handler> = {
  POST: create,
  HEAD: head,
  PATCH: patch,
  DELETE: terminate,
};

/** X-HTTP-Method-Override (tus-js-client's overridePatchMethod): a POST that stands for PATCH, DELETE or HEAD. */
function dispatch(method: string) {
  return (req: Request, context: Context) => {
    const override = method === "POST" ? req.headers.get("x-http-method-override")?.toUpperCase() : undefined;
    const effective = override && override in HANDLERS ? override : method;
    return guarded(req, context, effective, HANDLERS[effective] as Handler);
  };
}

export const POST = dispatch("POST");
export const HEAD = dispatch("HEAD");
export const PATCH = dispatch("PATCH");
export const DELETE = dispatch("DELETE");
