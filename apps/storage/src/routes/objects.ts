import { pipeline } from "node:stream/promises";
import { DepotError, HEADER, isUuid, parseIntegerHeader, validateKey, validatePrefix } from "@depot/contract";
import { type FileRow, findFile, markFileDeleted, markFileFailed, markFileStored } from "@depot/db";
import { deleteByPrefix } from "../drivers/listing";
import { clientClosed, uploadBody } from "../http/body";
import { header, type RequestContext, type StorageContext } from "../http/context";
import { parseRange } from "../http/range";
import { sendJson, toDepotError } from "../http/respond";
import { describeError, log } from "../log";

const SHA256 = /^[0-9a-f]{64}$/i;

/** The files row the web named, if any: it fixes the disk and key, so the caller cannot pick others. */
async function namedFile(ctx: StorageContext, request: RequestContext): Promise<FileRow | undefined> {
  const id = header(request.req, HEADER.fileId);
  if (!id) return undefined;
  if (!isUuid(id)) throw new DepotError("bad_request", "X-Depot-File-Id must be a uuid");
  const file = await findFile(ctx.db, id);
  if (!file) throw new DepotError("not_found", "no such file record");
  return file;
}

function target(ctx: StorageContext, request: RequestContext, file?: FileRow) {
  const disk = ctx.disks.get(file?.storageDisk ?? request.url.searchParams.get("disk"));
  const key = validateKey(file?.storageKey ?? request.url.searchParams.get("key") ?? "");
  return { disk: disk.name, driver: disk.driver, key };
}

const optionalNumberHeader = (request: RequestContext, name: string) =>
  parseIntegerHeader(header(request.req, name), name);

export async function upload(ctx: StorageContext, request: RequestContext): Promise<void> {
  const { req } = request;
  const file = await namedFile(ctx, request);
  if (file && file.status !== "uploading") throw new DepotError("conflict", "this file is not waiting for an upload");
  const { disk, driver, key } = target(ctx, request, file);
  const expectedSha256 = header(req, HEADER.expectedSha256);
  if (expectedSha256 !== undefined && !SHA256.test(expectedSha256)) {
    throw new DepotError("bad_request", `${HEADER.expectedSha256} must be 64 hex digits`);
  }
  const expectedSize = optionalNumberHeader(request, HEADER.expectedSize);
  const declared = optionalNumberHeader(request, "content-length");
  if (declared !== undefined && declared > ctx.env.maxUploadBytes) {
    throw new DepotError("too_large", `upload exceeds the limit of ${ctx.env.maxUploadBytes} bytes`);
  }

  const common = { cohortId: file?.cohortId, fileId: file?.id, disk, storageKey: key };
  let result: { size: number; sha256: string };
  try {
    const body = uploadBody(req);
    const source = await body.source;
    result = await driver.write(key, source, { maxBytes: ctx.env.maxUploadBytes, expectedSha256, expectedSize });
    try {
      await body.finished;
    } catch (error) {
      await driver.delete(key);
      throw error;
    }
  } catch (error) {
    const aborted =
      !req.complete && (req.destroyed || req.socket.destroyed || toDepotError(error).code === "client_closed");
    const failure = aborted ? clientClosed() : toDepotError(error);
    if (!aborted && !(error instanceof DepotError)) {
      log("error", "upload failed", { requestId: request.requestId, error: describeError(error) });
    }
    if (file) await markFileFailed(ctx.db, file.id).catch(() => {});
    // A refused key is audited as denied by the server, like every other refusal.
    if (failure.code === "invalid_key") throw failure;
    await request
      .audit({
        ...common,
        action: aborted ? "stream_upload_aborted" : "stream_upload",
        outcome: "failure",
        error: failure.code,
      })
      .catch(() => {});
    throw failure;
  }

  try {
    await ctx.db.transaction(async (tx) => {
      if (file && !(await markFileStored(tx, file.id, result))) {
        throw new DepotError("conflict", "the file record changed during the upload");
      }
      await request.audit(
        { ...common, action: "stream_upload", outcome: "success", bytes: result.size, sha256: result.sha256 },
        tx,
      );
    });
  } catch (error) {
    // Fail closed: an upload that cannot be recorded in the audit trail is not kept.
    await driver.delete(key).catch(() => {});
    throw error instanceof DepotError
      ? error
      : new DepotError("unavailable", "the upload could not be recorded in the audit trail, so it was not kept");
  }
  sendJson(request.res, 201, { disk, key, size: result.size, sha256: result.sha256, fileId: file?.id ?? null });
}

export async function download(ctx: StorageContext, request: RequestContext): Promise<void> {
  const { req, res } = request;
  const file = await namedFile(ctx, request);
  const { disk, driver, key } = target(ctx, request, file);
  const info = await driver.stat(key);
  if (!info) throw new DepotError("not_found", "no such object");
  const range = parseRange(header(req, "range"), info.size);
  if (range === "unsatisfiable") {
    res.setHeader("content-range", `bytes */${info.size}`);
    throw new DepotError("range_not_satisfiable", "the requested range lies outside the object");
  }
  const length = range ? range.end - range.start + 1 : info.size;
  res.writeHead(range ? 206 : 200, {
    "content-type": "application/octet-stream",
    "content-length": length,
    "accept-ranges": "bytes",
    "last-modified": info.modifiedAt.toUTCString(),
    ...(range ? { "content-range": `bytes ${range.start}-${range.end}/${info.size}` } : {}),
    ...(file?.sha256 ? { [HEADER.sha256]: file.sha256 } : {}),
  });
  if (req.method === "HEAD" || length === 0) {
    res.end();
    if (req.method === "HEAD") return;
  }
  const common = {
    cohortId: file?.cohortId,
    fileId: file?.id,
    disk,
    storageKey: key,
    metadata: range ? { range } : {},
  };
  try {
    if (length > 0) await pipeline(await driver.read(key, range ?? undefined), res);
    await request.audit({ ...common, action: "stream_download", outcome: "success", bytes: length });
  } catch (error) {
    await request
      .audit({ ...common, action: "stream_download", outcome: "failure", error: toDepotError(error).code })
      .catch(() => {});
    res.destroy();
  }
}

/**
 * Deletes an object, and for a named file marks it deleted. Idempotent under concurrency: the file row is claimed
 * first with a conditional update (its row lock held until the object is gone and the audit row written), so of
 * concurrent deletes of one file exactly one removes it and writes `file_deleted`; the others get 404.
 */
export async function remove(ctx: StorageContext, request: RequestContext): Promise<void> {
  const file = await namedFile(ctx, request);
  const { disk, driver, key } = target(ctx, request, file);
  let deleted = false;
  await ctx.db.transaction(async (tx) => {
    if (file && !(await markFileDeleted(tx, file.id)))
      throw new DepotError("not_found", "this file is already deleted");
    deleted = await driver.delete(key);
    await request.audit(
      {
        cohortId: file?.cohortId,
        fileId: file?.id,
        disk,
        storageKey: key,
        action: "file_deleted",
        outcome: "success",
        metadata: { existed: deleted },
      },
      tx,
    );
  });
  sendJson(request.res, 200, { disk, key, deleted });
}

const WILDCARD = /[*?[\]%]/;

export async function removePrefix(ctx: StorageContext, request: RequestContext): Promise<void> {
  const { name: disk, driver } = ctx.disks.get(request.url.searchParams.get("disk"));
  const prefix = request.url.searchParams.get("prefix") ?? "";
  if (WILDCARD.test(prefix)) throw new DepotError("invalid_key", "prefix must not contain wildcards");
  validatePrefix(prefix);
  const deleted = await deleteByPrefix(driver, prefix);
  await request.audit({
    disk,
    storageKey: prefix,
    action: "prefix_deleted",
    outcome: "success",
    metadata: { deleted },
  });
  sendJson(request.res, 200, { disk, prefix, deleted });
}

export async function list(ctx: StorageContext, request: RequestContext): Promise<void> {
  const { searchParams } = request.url;
  const { name: disk, driver } = ctx.disks.get(searchParams.get("disk"));
  const prefix = searchParams.get("prefix") ?? "";
  if (prefix) validatePrefix(prefix);
  const limit = Number(searchParams.get("limit") ?? 100);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
    throw new DepotError("bad_request", "limit must be 1 to 1000");
  const cursor = searchParams.get("cursor") ?? undefined;
  if (cursor) validateKey(cursor);
  const page = await driver.list(prefix, { limit, cursor });
  sendJson(request.res, 200, { disk, prefix, ...page });
}

export async function metadata(ctx: StorageContext, request: RequestContext): Promise<void> {
  const { disk, driver, key } = target(ctx, request);
  const info = await driver.stat(key);
  if (!info) throw new DepotError("not_found", "no such object");
  sendJson(request.res, 200, { disk, ...info });
}

export async function exists(ctx: StorageContext, request: RequestContext): Promise<void> {
  const { disk, driver, key } = target(ctx, request);
  sendJson(request.res, 200, { disk, key, exists: (await driver.stat(key)) !== null });
}

export async function usage(ctx: StorageContext, request: RequestContext): Promise<void> {
  const wanted = request.url.searchParams.get("disk");
  const names = wanted ? [ctx.disks.get(wanted).name] : ctx.disks.names();
  const disks = await Promise.all(
    names.map(async (name) => {
      const { driver } = ctx.disks.get(name);
      return { name, driver: driver.kind, ...(await driver.usage()) };
    }),
  );
  sendJson(request.res, 200, { disks });
}
