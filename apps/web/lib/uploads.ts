import { randomUUID } from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";
import { buildStorageKey, DepotError } from "@depot/contract";
import { createFileRecord, type FileKind, type FileRow, type User } from "@depot/db";
import { db } from "./db";
import { getEnv } from "./env";
import { requireAllowedExtension, sanitizeDisplayName } from "./filenames";
import { requireId } from "./ids";
import { requireCohortPermission } from "./permissions";

export interface UploadRequest {
  cohortId?: string;
  kind?: string;
  filename?: string;
  contentType?: string;
}

const KINDS: FileKind[] = ["precheck", "submission"];

/**
 * Checks what the person asked for and records the file as uploading. The storage key comes from ids
 * alone; the sanitised name is kept for display only.
 */
export async function beginUpload(user: User, request: UploadRequest): Promise<FileRow> {
  const env = getEnv();
  if (!request.cohortId) throw new DepotError("bad_request", "cohortId is required (send it before the file part)");
  if (!KINDS.includes(request.kind as FileKind))
    throw new DepotError("bad_request", "kind must be precheck or submission");
  // Canonical before anything uses it: the cohort id is the storage key's prefix.
  const cohortId = requireId(request.cohortId, "cohort");
  await requireCohortPermission(user, "upload", cohortId);
  const name = sanitizeDisplayName(request.filename ?? "");
  requireAllowedExtension(name, env.allowedExtensions);
  const kind = request.kind as FileKind;
  const id = randomUUID();
  return createFileRecord(db(), {
    id,
    cohortId,
    uploaderId: user.id,
    originalName: name,
    contentType: (request.contentType ?? "application/octet-stream").replace(/[^\w.+/-]/g, "").slice(0, 100),
    storageDisk: env.defaultDisk,
    storageKey: buildStorageKey(cohortId, id),
    kind,
    expiresAt: kind === "precheck" ? new Date(Date.now() + env.precheckRetentionMs) : null,
  });
}

/** Fails the stream with too_large once more than `max` bytes pass, so the web enforces the limit too. */
export class ByteLimit extends Transform {
  private seen = 0;
  constructor(private readonly max: number) {
    super();
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
    this.seen += chunk.length;
    if (this.seen > this.max)
      return callback(new DepotError("too_large", `upload exceeds the limit of ${this.max} bytes`));
    callback(null, chunk);
  }
}
