import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { DepotError, HEADER, parseUploadMetadata, TUS_VERSION } from "@depot/contract";
import {
  advanceResumableOffset,
  createResumableUpload,
  findFile,
  findResumableUpload,
  markFileFailed,
  markFileStored,
  type ResumableUpload,
  setFileUploadId,
  setResumableStatus,
} from "@depot/db";
import type { StorageDriver } from "../drivers/driver";
import { deleteByPrefix, eachObject } from "../drivers/listing";
import { uploadBody } from "../http/body";
import { header, type RequestContext, type StorageContext } from "../http/context";
import { toDepotError } from "../http/respond";

const EXTENSIONS = "creation,termination,expiration,checksum";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const INTEGER = /^\d{1,16}$/;

/** Acknowledged bytes of an upload live as one object per PATCH, named by the offset they start at. */
const chunkPrefix = (id: string) => `tus-staging/${id}/`;
const chunkKey = (id: string, offset: number) => `${chunkPrefix(id)}${String(offset).padStart(16, "0")}`;

/**
 * PATCHes in progress in this process, each settling when it ends. A second PATCH on the same upload is most often
 * a client resuming right after its connection dropped, while this process still winds the dropped request down:
 * it waits for that one (a few seconds at most), then checks its offset against what the first one left.
 */
const inFlight = new Map<string, Promise<void>>();
const TURN_WAIT_MS = 5_000;

async function takeTurn(id: string): Promise<() => void> {
  const previous = inFlight.get(id);
  if (previous) {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([previous, new Promise((settle) => (timer = setTimeout(settle, TURN_WAIT_MS)))]);
    clearTimeout(timer);
    if (inFlight.has(id)) throw new DepotError("conflict", "another request is writing to this upload");
  }
  let release = () => {};
  inFlight.set(
    id,
    new Promise<void>((settle) => {
      release = () => {
        inFlight.delete(id);
        settle();
      };
    }),
  );
  return release;
}

function tusHeaders(request: RequestContext, extra: Record<string, string | number> = {}) {
  const { res } = request;
  res.setHeader("tus-resumable", TUS_VERSION);
  res.setHeader("cache-control", "no-store");
  for (const [name, value] of Object.entries(extra)) res.setHeader(name, value);
}

function requireTusVersion(request: RequestContext) {
  if (header(request.req, "tus-resumable") !== TUS_VERSION) {
    request.res.setHeader("tus-version", TUS_VERSION);
    throw new DepotError("unsupported_version", `Tus-Resumable must be ${TUS_VERSION}`);
  }
}

function integerHeader(request: RequestContext, name: string): number {
  const value = header(request.req, name);
  if (value === undefined || !INTEGER.test(value))
    throw new DepotError("bad_request", `${name} must be a non-negative integer`);
  return Number(value);
}

const expired = (upload: ResumableUpload) => upload.status === "active" && upload.expiresAt.getTime() < Date.now();

async function loadUpload(ctx: StorageContext, id: string): Promise<ResumableUpload> {
  const upload = await findResumableUpload(ctx.db, id);
  if (!upload) throw new DepotError("not_found", "no such upload");
  if (upload.status === "terminated" || expired(upload))
    throw new DepotError("gone", "this upload was terminated or has expired");
  return upload;
}

export async function options(ctx: StorageContext, request: RequestContext): Promise<void> {
  tusHeaders(request, {
    "tus-version": TUS_VERSION,
    "tus-extension": EXTENSIONS,
    "tus-max-size": ctx.env.maxUploadBytes,
    "tus-checksum-algorithm": "sha256",
  });
  request.res.writeHead(204).end();
}

export async function create(ctx: StorageContext, request: RequestContext): Promise<void> {
  requireTusVersion(request);
  if (header(request.req, "upload-defer-length"))
    throw new DepotError("bad_request", "Upload-Defer-Length is not supported");
  const length = integerHeader(request, "upload-length");
  if (length > ctx.env.maxUploadBytes) {
    throw new DepotError("too_large", `Upload-Length exceeds the limit of ${ctx.env.maxUploadBytes} bytes`);
  }
  const metadata = parseUploadMetadata(header(request.req, "upload-metadata"));
  const fileId = header(request.req, HEADER.fileId);
  if (!fileId || !UUID.test(fileId)) throw new DepotError("bad_request", "X-Depot-File-Id is required");
  const file = await findFile(ctx.db, fileId);
  if (!file) throw new DepotError("not_found", "no such file record");
  if (file.status !== "uploading" || file.uploadId)
    throw new DepotError("conflict", "this file is not waiting for an upload");
  const disk = ctx.disks.get(file.storageDisk);

  const id = randomBytes(16).toString("hex");
  const expiresAt = new Date(Date.now() + ctx.env.tusExpiryMs);
  await ctx.db.transaction(async (tx) => {
    await createResumableUpload(tx, { id, fileId, disk: disk.name, length, metadata, expiresAt });
    await setFileUploadId(tx, fileId, id);
    await request.audit(
      {
        action: "chunked_upload_created",
        outcome: "success",
        cohortId: file.cohortId,
        fileId,
        disk: disk.name,
        storageKey: file.storageKey,
        bytes: length,
        metadata: { uploadId: id },
      },
      tx,
    );
  });
  tusHeaders(request, { location: `/internal/tus/${id}`, "upload-expires": expiresAt.toUTCString() });
  request.res.writeHead(201).end();
}

export async function head(ctx: StorageContext, request: RequestContext, [id = ""]: string[]): Promise<void> {
  requireTusVersion(request);
  const upload = await loadUpload(ctx, id);
  tusHeaders(request, {
    "upload-offset": upload.offset,
    "upload-length": upload.length,
    ...(upload.status === "active" ? { "upload-expires": upload.expiresAt.toUTCString() } : {}),
  });
  request.res.writeHead(200).end();
}

function expectedChunkSha256(request: RequestContext): string | undefined {
  const value = header(request.req, "upload-checksum");
  if (value === undefined) return undefined;
  const [algorithm, digest = ""] = value.split(" ");
  if (algorithm !== "sha256") throw new DepotError("bad_request", "Upload-Checksum supports sha256 only");
  const bytes = Buffer.from(digest, "base64");
  if (bytes.length !== 32) throw new DepotError("bad_request", "Upload-Checksum digest is not a base64 sha256");
  return bytes.toString("hex");
}

export async function patch(ctx: StorageContext, request: RequestContext, [id = ""]: string[]): Promise<void> {
  requireTusVersion(request);
  if (header(request.req, "content-type") !== "application/offset+octet-stream") {
    throw new DepotError("unsupported_type", "PATCH needs Content-Type: application/offset+octet-stream");
  }
  const offset = integerHeader(request, "upload-offset");
  const expectedSha256 = expectedChunkSha256(request);
  const release = await takeTurn(id);
  try {
    await writeChunk(ctx, request, id, offset, expectedSha256);
  } finally {
    release();
  }
}

async function writeChunk(
  ctx: StorageContext,
  request: RequestContext,
  id: string,
  offset: number,
  expectedSha256: string | undefined,
): Promise<void> {
  const upload = await loadUpload(ctx, id);
  if (offset !== upload.offset) {
    throw new DepotError(
      "offset_mismatch",
      `Upload-Offset ${offset} does not match the upload's offset ${upload.offset}`,
    );
  }
  if (upload.status === "completed") {
    tusHeaders(request, { "upload-offset": upload.offset });
    request.res.writeHead(204).end();
    return;
  }
  const remaining = upload.length - upload.offset;
  const declared = header(request.req, "content-length");
  if (declared !== undefined && INTEGER.test(declared) && Number(declared) > remaining) {
    throw new DepotError("too_large", "the chunk goes past Upload-Length");
  }
  const { driver } = ctx.disks.get(upload.disk);
  let newOffset = upload.offset;
  if (remaining > 0) {
    const key = chunkKey(id, upload.offset);
    await driver.delete(key); // an unacknowledged chunk left by a request that died
    const source = await uploadBody(request.req).source;
    const written = await driver.write(key, source, { maxBytes: remaining, expectedSha256 }).catch((error) => {
      const e = toDepotError(error);
      throw e.code === "checksum_mismatch" ? new DepotError("chunk_checksum_mismatch", e.message) : e;
    });
    if (written.size === 0) {
      await driver.delete(key);
    } else {
      newOffset = upload.offset + written.size;
      const expiresAt = new Date(Date.now() + ctx.env.tusExpiryMs);
      if (!(await advanceResumableOffset(ctx.db, { id, from: upload.offset, to: newOffset, expiresAt }))) {
        await driver.delete(key);
        throw new DepotError("offset_mismatch", "the upload moved on while this chunk was written");
      }
      upload.expiresAt = expiresAt;
    }
  }
  if (newOffset === upload.length) {
    const result = await complete(ctx, request, { ...upload, offset: newOffset }, driver);
    tusHeaders(request, { "x-depot-sha256": result.sha256, "x-depot-size": result.size });
  }
  tusHeaders(request, { "upload-offset": newOffset, "upload-expires": upload.expiresAt.toUTCString() });
  request.res.writeHead(204).end();
}

/** Every chunk of the upload, in order, checked to cover 0..length without gaps or overlaps. */
async function chunksOf(driver: StorageDriver, upload: ResumableUpload): Promise<string[]> {
  const keys: string[] = [];
  let expected = 0;
  for await (const item of eachObject(driver, chunkPrefix(upload.id))) {
    const start = Number(item.key.slice(chunkPrefix(upload.id).length));
    if (start !== expected) throw new DepotError("internal", "the upload's chunks are not contiguous");
    expected += item.size;
    keys.push(item.key);
  }
  if (expected !== upload.length) throw new DepotError("internal", "the upload's chunks do not add up to its length");
  return keys;
}

/** Joins the chunks into the file's final object (hashing the whole file), then records it, fail-closed. */
async function complete(ctx: StorageContext, request: RequestContext, upload: ResumableUpload, driver: StorageDriver) {
  const file = await findFile(ctx.db, upload.fileId);
  if (!file) throw new DepotError("not_found", "the upload's file record is gone");
  const keys = await chunksOf(driver, upload);
  async function* joined() {
    for (const key of keys) yield* await driver.read(key);
  }
  const common = { cohortId: file.cohortId, fileId: file.id, disk: upload.disk, storageKey: file.storageKey };
  let result: { size: number; sha256: string };
  try {
    result = await driver.write(file.storageKey, Readable.from(joined()), {
      maxBytes: upload.length,
      expectedSize: upload.length,
    });
  } catch (error) {
    await request
      .audit({ ...common, action: "chunked_upload_completed", outcome: "failure", error: toDepotError(error).code })
      .catch(() => {});
    throw error;
  }
  try {
    await ctx.db.transaction(async (tx) => {
      if (!(await markFileStored(tx, file.id, result))) throw new DepotError("conflict", "the file record changed");
      await setResumableStatus(tx, upload.id, "completed");
      await request.audit(
        {
          ...common,
          action: "chunked_upload_completed",
          outcome: "success",
          bytes: result.size,
          sha256: result.sha256,
          metadata: { uploadId: upload.id, chunks: keys.length },
        },
        tx,
      );
    });
  } catch (error) {
    // Fail closed; the chunks stay, so a PATCH at the final offset retries the completion.
    await driver.delete(file.storageKey).catch(() => {});
    throw error instanceof DepotError
      ? error
      : new DepotError("unavailable", "the upload could not be recorded in the audit trail; retry to complete it");
  }
  for (const key of keys) await driver.delete(key).catch(() => {});
  return result;
}

export async function terminate(ctx: StorageContext, request: RequestContext, [id = ""]: string[]): Promise<void> {
  requireTusVersion(request);
  const upload = await loadUpload(ctx, id);
  if (upload.status === "completed")
    throw new DepotError("conflict", "this upload is complete; delete the file instead");
  const { driver } = ctx.disks.get(upload.disk);
  const file = await findFile(ctx.db, upload.fileId);
  await ctx.db.transaction(async (tx) => {
    await setResumableStatus(tx, id, "terminated");
    await markFileFailed(tx, upload.fileId);
    await request.audit(
      {
        action: "chunked_upload_aborted",
        outcome: "success",
        cohortId: file?.cohortId,
        fileId: upload.fileId,
        disk: upload.disk,
        storageKey: file?.storageKey,
        bytes: upload.offset,
        metadata: { uploadId: id, reason: "terminated" },
      },
      tx,
    );
  });
  await deleteByPrefix(driver, chunkPrefix(id));
  tusHeaders(request);
  request.res.writeHead(204).end();
}
