import { Readable } from "node:stream";
import { DepotError, HEADER } from "@depot/contract";
import { route } from "@/lib/api";
import { auditWeb } from "@/lib/audit";
import { getEnv } from "@/lib/env";
import { contentDisposition } from "@/lib/filenames";
import { requireFileInRoute } from "@/lib/permissions";
import { forwardedHeaders, streamFromStorage } from "@/lib/storage-client";

export const dynamic = "force-dynamic";

type Context = { params: Promise<{ id: string }> };
const PASSED_BACK = ["content-length", "content-range", "accept-ranges", "last-modified"];

/** Streams the object from storage to the browser (Range passes through); audited by both tiers. */
export function GET(req: Request, context: Context) {
  return route(req, "download", async (ctx) => {
    const { info } = ctx;
    const user = await ctx.requireUser();
    const file = await requireFileInRoute(ctx, user, (await context.params).id, "download");
    if (file.status !== "stored") throw new DepotError("conflict", "this file is not available for download");
    const range = req.headers.get("range");
    const upstream = await streamFromStorage("internal/storage/download", {
      headers: { ...forwardedHeaders(info, user, file.id), ...(range ? { range } : {}) },
      idleMs: getEnv().idleTimeoutMs,
    });
    if (upstream.statusCode !== 200 && upstream.statusCode !== 206) {
      upstream.body.destroy();
      if (upstream.statusCode === 416)
        throw new DepotError("range_not_satisfiable", "the requested range lies outside the file");
      throw new DepotError(
        upstream.statusCode === 404 ? "not_found" : "bad_gateway",
        "the file could not be read from storage",
      );
    }
    const headers = new Headers({
      "content-type": "application/octet-stream",
      "content-disposition": contentDisposition(file.originalName),
      "cache-control": "no-store",
      "x-content-type-options": "nosniff",
      ...(file.sha256 ? { [HEADER.sha256]: file.sha256 } : {}),
    });
    for (const name of PASSED_BACK) {
      const value = upstream.headers[name];
      if (typeof value === "string") headers.set(name, value);
    }
    await auditWeb(info, user, {
      action: "stream_download",
      outcome: "success",
      cohortId: file.cohortId,
      fileId: file.id,
      disk: file.storageDisk,
      storageKey: file.storageKey,
      bytes: Number(upstream.headers["content-length"] ?? file.size ?? 0),
      sha256: file.sha256,
      metadata: range ? { range: range.slice(0, 100) } : {},
    }).catch((error: unknown) => {
      upstream.body.destroy(); // no audit row, no bytes: the open stream from storage goes too
      throw error;
    });
    return new Response(Readable.toWeb(upstream.body) as unknown as ReadableStream, {
      status: upstream.statusCode,
      headers,
    });
  });
}
