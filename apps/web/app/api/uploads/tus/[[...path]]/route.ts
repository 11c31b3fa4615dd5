import { Readable } from "node:stream";
import type { ReadableStream as NodeReadableStream } from "node:stream/web";
import { DepotError, parseUploadMetadata, TUS_VERSION } from "@depot/contract";
import { findFile, findResumableUpload, type User } from "@depot/db";
import { type RouteContext, route } from "@/lib/api";
import { auditWeb } from "@/lib/audit";
import { ContentCheck } from "@/lib/content-check";
import { db } from "@/lib/db";
import { getEnv } from "@/lib/env";
import { extensionOf } from "@/lib/filenames";
import { canonicalId } from "@/lib/ids";
import { can } from "@/lib/permissions";
import type { RequestInfo } from "@/lib/request";
import { requireSameOrigin } from "@/lib/request";
import { forwardedHeaders, storageClient, storageError, streamToStorage } from "@/lib/storage-client";
import { beginUpload } from "@/lib/uploads";

export const dynamic = "force-dynamic";

type Context = { params: Promise<{ path?: string[] }> };

const PUBLIC_BASE = "/api/uploads/tus";
const PASSED_BACK = ["tus-resumable", "upload-offset", "upload-length", "upload-expires", "cache-control"];
const ID = /^[a-f0-9]{32}$/;

function tusResponse(
  status: number,
  from: Record<string, string | string[] | undefined>,
  extra: Record<string, string> = {},
) {
  const headers = new Headers({ "tus-resumable": TUS_VERSION, ...extra });
  for (const name of PASSED_BACK) {
    const value = from[name];
    if (typeof value === "string") headers.set(name, value);
  }
  return new Response(null, { status, headers });
}

/** The upload must be this person's, in a cohort they may still upload to, on every request. */
async function ownedUpload(ctx: RouteContext, user: User, id: string) {
  if (!ID.test(id)) throw new DepotError("not_found", "no such upload");
  const upload = await findResumableUpload(db(), id);
  const file = upload ? await findFile(db(), upload.fileId) : undefined;
  if (!upload || !file) throw new DepotError("not_found", "no such upload");
  Object.assign(ctx.target, { fileId: file.id, cohortId: file.cohortId, uploadId: id });
  if (file.uploaderId !== user.id || !(await can(user, "upload", file.cohortId))) {
    throw new DepotError("forbidden", "this upload belongs to someone else");
  }
  return { upload, file };
}

async function guarded(
  req: Request,
  context: Context,
  run: (user: User, info: RequestInfo, id: string, ctx: RouteContext) => Promise<Response>,
) {
  return route(req, "tus", async (ctx) => {
    if (req.method !== "HEAD") requireSameOrigin(req);
    const user = await ctx.requireUser();
    // tus 1.0: every request but OPTIONS names the protocol version; anything else is refused with 412.
    if (req.headers.get("tus-resumable") !== TUS_VERSION) {
      const error = new DepotError("unsupported_version", `Tus-Resumable must be ${TUS_VERSION}`);
      return Response.json(error.toBody(), {
        status: error.status,
        headers: { "tus-resumable": TUS_VERSION, "tus-version": TUS_VERSION },
      });
    }
    const path = (await context.params).path ?? [];
    if (path.length > 1) throw new DepotError("not_found", "no such upload");
    return await run(user, ctx.info, path[0] ?? "", ctx);
  });
}

export function OPTIONS() {
  const env = getEnv();
  return new Response(null, {
    status: 204,
    headers: {
      "tus-resumable": TUS_VERSION,
      "tus-version": TUS_VERSION,
      "tus-extension": "creation,termination,expiration,checksum",
      "tus-max-size": String(env.maxUploadBytes),
      "tus-checksum-algorithm": "sha256",
    },
  });
}

/** Creation: metadata cohortId, kind, filename (and optionally filetype), as base64 per tus. */
export function POST(req: Request, context: Context) {
  return guarded(req, context, async (user, info, id, ctx) => {
    if (id) throw new DepotError("bad_request", "create uploads at /api/uploads/tus/");
    const lengthHeader = req.headers.get("upload-length") ?? "";
    if (!/^\d{1,16}$/.test(lengthHeader))
      throw new DepotError("bad_request", "Upload-Length must be a non-negative integer");
    if (Number(lengthHeader) > getEnv().maxUploadBytes) {
      throw new DepotError("too_large", `Upload-Length exceeds the limit of ${getEnv().maxUploadBytes} bytes`);
    }
    const rawMetadata = req.headers.get("upload-metadata") ?? undefined;
    const metadata = parseUploadMetadata(rawMetadata);
    ctx.target.cohortId = canonicalId(metadata.cohortId);
    const file = await beginUpload(user, {
      cohortId: metadata.cohortId,
      kind: metadata.kind,
      filename: metadata.filename ?? metadata.name,
      contentType: metadata.filetype ?? metadata.type,
    });
    const res = await storageClient().post("internal/tus/", {
      headers: {
        ...forwardedHeaders(info, user, file.id),
        "tus-resumable": TUS_VERSION,
        "upload-length": lengthHeader,
        ...(rawMetadata ? { "upload-metadata": rawMetadata } : {}),
      },
    });
    if (res.statusCode !== 201)
      throw storageError({ statusCode: res.statusCode, headers: res.headers, body: res.body });
    const uploadId =
      String(res.headers.location ?? "")
        .split("/")
        .pop() ?? "";
    await auditWeb(info, user, {
      action: "chunked_upload_created",
      outcome: "success",
      cohortId: file.cohortId,
      fileId: file.id,
      disk: file.storageDisk,
      storageKey: file.storageKey,
      bytes: Number(lengthHeader),
      metadata: { uploadId, name: file.originalName, kind: file.kind },
    });
    return tusResponse(201, res.headers, { location: `${PUBLIC_BASE}/${uploadId}`, "x-depot-file-id": file.id });
  });
}

export function HEAD(req: Request, context: Context) {
  return guarded(req, context, async (user, info, id, ctx) => {
    await ownedUpload(ctx, user, id);
    const res = await storageClient().head(`internal/tus/${id}`, {
      headers: { ...forwardedHeaders(info, user), "tus-resumable": TUS_VERSION },
    });
    if (res.statusCode !== 200)
      return new Response(null, { status: res.statusCode, headers: { "tus-resumable": TUS_VERSION } });
    return tusResponse(200, res.headers);
  });
}

export function PATCH(req: Request, context: Context) {
  return guarded(req, context, async (user, info, id, ctx) => {
    const { upload, file } = await ownedUpload(ctx, user, id);
    const offset = req.headers.get("upload-offset") ?? "";
    if (offset !== String(upload.offset)) {
      throw new DepotError(
        "offset_mismatch",
        `Upload-Offset ${offset.slice(0, 20)} does not match the upload's offset ${upload.offset}`,
      );
    }
    const remaining = upload.length - upload.offset;
    const declared = req.headers.get("content-length");
    if (declared && Number(declared) > remaining)
      throw new DepotError("too_large", "the chunk goes past Upload-Length");
    const body = req.body ? Readable.fromWeb(req.body as unknown as NodeReadableStream<Uint8Array>) : Readable.from([]);
    const checksum = req.headers.get("upload-checksum");
    // The first chunk carries the file's first bytes: the same content check as a single upload.
    const check = upload.offset === 0 ? new ContentCheck(extensionOf(file.originalName)) : undefined;
    const reply = await streamToStorage({
      path: `internal/tus/${id}`,
      method: "PATCH",
      source: body,
      inspect: check,
      maxBytes: remaining,
      headers: {
        ...forwardedHeaders(info, user, file.id),
        "tus-resumable": TUS_VERSION,
        "upload-offset": offset,
        "content-type": req.headers.get("content-type") ?? "",
        ...(checksum ? { "upload-checksum": checksum } : {}),
        ...(declared ? { "content-length": declared } : {}),
      },
    });
    if (reply.statusCode !== 204) throw storageError(reply);
    if (check?.mismatch) {
      await auditWeb(info, user, {
        action: "content_mismatch",
        outcome: "success",
        cohortId: file.cohortId,
        fileId: file.id,
        metadata: { ...check.mismatch, name: file.originalName, uploadId: id },
      });
    }
    const sha256 = reply.headers["x-depot-sha256"];
    if (typeof sha256 === "string") {
      await auditWeb(info, user, {
        action: "chunked_upload_completed",
        outcome: "success",
        cohortId: file.cohortId,
        fileId: file.id,
        disk: file.storageDisk,
        storageKey: file.storageKey,
        bytes: upload.length,
        sha256,
        metadata: { uploadId: id, name: file.originalName },
      });
      return tusResponse(204, reply.headers, { "x-depot-sha256": sha256, "x-depot-file-id": file.id });
    }
    return tusResponse(204, reply.headers);
  });
}

export function DELETE(req: Request, context: Context) {
  return guarded(req, context, async (user, info, id, ctx) => {
    const { file } = await ownedUpload(ctx, user, id);
    const res = await storageClient().delete(`internal/tus/${id}`, {
      headers: { ...forwardedHeaders(info, user, file.id), "tus-resumable": TUS_VERSION },
    });
    if (res.statusCode !== 204)
      throw storageError({ statusCode: res.statusCode, headers: res.headers, body: res.body });
    await auditWeb(info, user, {
      action: "chunked_upload_aborted",
      outcome: "success",
      cohortId: file.cohortId,
      fileId: file.id,
      metadata: { uploadId: id, reason: "cancelled" },
    });
    return tusResponse(204, res.headers);
  });
}
