import { Readable } from "node:stream";
import type { ReadableStream as NodeReadableStream } from "node:stream/web";
import { canonicalId, DepotError, parseIntegerHeader } from "@depot/contract";
import { type FileRow, markFileFailed } from "@depot/db";
import { isDenial, route } from "@/lib/api";
import { auditWeb } from "@/lib/audit";
import { ContentCheck } from "@/lib/content-check";
import { db } from "@/lib/db";
import { getEnv } from "@/lib/env";
import { extensionOf } from "@/lib/filenames";
import { receiveSingleFile } from "@/lib/multipart";
import { requireSameOrigin } from "@/lib/request";
import { callStorage, forwardedHeaders, storageError, streamToStorage } from "@/lib/storage-client";
import { beginUpload } from "@/lib/uploads";

export const dynamic = "force-dynamic";

const MULTIPART_OVERHEAD = 64 * 1024;

/**
 * One file as multipart (fields cohortId and kind, then the file), streamed through to storage:
 * request body → busboy → got → storage. Nothing touches this server's disk; memory stays flat.
 */
export async function POST(req: Request): Promise<Response> {
  let file: FileRow | undefined;
  return route(req, "upload", async (ctx) => {
    const { info } = ctx;
    try {
      requireSameOrigin(req);
      const user = await ctx.requireUser();
      const env = getEnv();
      const declared = parseIntegerHeader(req.headers.get("content-length"), "Content-Length");
      if (declared !== undefined && declared > env.maxUploadBytes + MULTIPART_OVERHEAD) {
        throw new DepotError("too_large", `upload exceeds the limit of ${env.maxUploadBytes} bytes`);
      }
      if (!req.body) throw new DepotError("bad_request", "the request has no body");
      const body = Readable.fromWeb(req.body as unknown as NodeReadableStream<Uint8Array>);
      const signedIn = user;
      let check: ContentCheck | undefined;
      const stored = await receiveSingleFile(
        body,
        req.headers.get("content-type"),
        async ({ fields, stream, filename, mimeType }) => {
          ctx.target.cohortId = canonicalId(fields.cohortId);
          file = await beginUpload(signedIn, {
            cohortId: fields.cohortId,
            kind: fields.kind,
            filename,
            contentType: mimeType,
          });
          check = new ContentCheck(extensionOf(file.originalName));
          const reply = await streamToStorage({
            path: "internal/storage/upload",
            method: "POST",
            source: stream,
            inspect: check,
            maxBytes: env.maxUploadBytes,
            headers: { ...forwardedHeaders(info, signedIn, file.id), "content-type": "application/octet-stream" },
          });
          if (reply.statusCode !== 201) throw storageError(reply);
          return { file, ...(JSON.parse(reply.body) as { size: number; sha256: string }) };
        },
        async (result) => {
          // Undoing a kept file: its answer is not read, so repeating it is safe.
          await callStorage("DELETE", "internal/storage/delete", {
            headers: forwardedHeaders(info, signedIn, result.file.id),
            repeat: "safe",
          });
        },
      );
      await auditWeb(info, user, {
        action: "stream_upload",
        outcome: "success",
        cohortId: stored.file.cohortId,
        fileId: stored.file.id,
        disk: stored.file.storageDisk,
        storageKey: stored.file.storageKey,
        bytes: stored.size,
        sha256: stored.sha256,
        metadata: { name: stored.file.originalName, kind: stored.file.kind },
      });
      const mismatch = (check as ContentCheck | undefined)?.mismatch;
      if (mismatch) {
        await auditWeb(info, user, {
          action: "content_mismatch",
          outcome: "success",
          cohortId: stored.file.cohortId,
          fileId: stored.file.id,
          metadata: { ...mismatch, name: stored.file.originalName },
        });
      }
      return Response.json(
        { id: stored.file.id, name: stored.file.originalName, size: stored.size, sha256: stored.sha256 },
        { status: 201 },
      );
    } catch (error) {
      const f = file as FileRow | undefined;
      if (f) await markFileFailed(db(), f.id).catch(() => {});
      // A refusal of who may do what is route()'s access_denied row; any other failure is recorded here.
      if (!isDenial(error)) {
        await auditWeb(info, ctx.user, {
          action: "stream_upload",
          outcome: "failure",
          cohortId: f?.cohortId,
          fileId: f?.id,
          error: error instanceof DepotError ? error.code : "internal",
        }).catch(() => {});
      }
      throw error;
    }
  });
}
