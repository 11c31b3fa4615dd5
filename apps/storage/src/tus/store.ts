import { AsyncLocalStorage } from "node:async_hooks";
import { createHash, type Hash } from "node:crypto";
import type { Readable } from "node:stream";
import { DepotError } from "@depot/contract";
import {
  claimFileForUpload,
  createResumableUpload,
  declareResumableLength,
  type FileRow,
  findFile,
  findResumableUpload,
  markFileFailed,
  markFileStored,
  type ResumableUpload,
  type ResumableUploadWithKey,
  recordResumableProgress,
  setResumableStatus,
} from "@depot/db";
import { DataStore, ERRORS, Upload } from "@tus/utils";
import type { RequestContext, StorageContext } from "../http/context";
import { toDepotError } from "../http/respond";

/** What one tus request carries into the store: its audit context, and what the hooks learned. */
export interface TusRequestState {
  request: RequestContext;
  /** The file row the web named at creation (checked in onUploadCreate). */
  file?: FileRow;
  /** Set when this request finished the upload. */
  finished?: { size: number; sha256: string; fileId: string };
  /** The upload's row as getUpload read it under the lock: for the write that follows in the same PATCH, and HEAD's answer. */
  upload?: ResumableUploadWithKey;
}

export const tusRequests = new AsyncLocalStorage<TusRequestState>();

function current(): TusRequestState {
  const state = tusRequests.getStore();
  if (!state) throw new Error("tus store used outside a request");
  return state;
}

/** The running sha256 of an upload, over its first `bytes` bytes. */
interface RunningHash {
  hash: Hash;
  bytes: number;
}

/** Running hashes kept per process; a replica without one catches up from the disk or hashes the object once. */
const MAX_RUNNING_HASHES = 10_000;

async function hashInto(running: RunningHash, stream: Readable): Promise<void> {
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    running.hash.update(chunk);
    running.bytes += chunk.length;
  }
}

/**
 * @tus/server's DataStore for Depot: upload state in PostgreSQL (resumable_uploads), bytes on the file's disk through
 * the driver's ResumableStore (written once), the files row and the audit rows at creation, completion and
 * termination, and the whole file's sha256 computed while the bytes stream. Every method runs under the upload's
 * lock (PgLocker), so no two replicas ever write one upload at once; completion happens inside the PATCH that
 * brings the last byte, still under the lock.
 */
export class DepotStore extends DataStore {
  private readonly hashes = new Map<string, RunningHash>();

  constructor(private readonly ctx: StorageContext) {
    super();
    this.extensions = ["creation", "creation-with-upload", "creation-defer-length", "termination", "expiration"];
  }

  override getExpiration(): number {
    return this.ctx.env.tusExpiryMs;
  }

  private rememberHash(id: string, running: RunningHash) {
    this.hashes.delete(id);
    this.hashes.set(id, running);
    if (this.hashes.size > MAX_RUNNING_HASHES) {
      const oldest = this.hashes.keys().next().value;
      if (oldest !== undefined) this.hashes.delete(oldest);
    }
  }

  override async create(upload: Upload): Promise<Upload> {
    const state = current();
    const file = state.file;
    if (!file) throw new DepotError("bad_request", "X-Depot-File-Id is required");
    const disk = this.ctx.disks.get(file.storageDisk);
    const backend = await disk.driver.resumable.begin(upload.id, file.storageKey);
    const expiresAt = new Date(Date.now() + this.ctx.env.tusExpiryMs);
    try {
      await this.ctx.db.transaction(async (tx) => {
        await createResumableUpload(tx, {
          id: upload.id,
          fileId: file.id,
          disk: disk.name,
          length: upload.size ?? null,
          metadata: upload.metadata ?? {},
          backend,
          expiresAt,
        });
        if (!(await claimFileForUpload(tx, file.id, upload.id)))
          throw new DepotError("conflict", "this file is not waiting for an upload");
        await state.request.audit(
          {
            action: "chunked_upload_created",
            outcome: "success",
            cohortId: file.cohortId,
            fileId: file.id,
            disk: disk.name,
            storageKey: file.storageKey,
            bytes: upload.size ?? null,
            metadata: { uploadId: upload.id, ...(upload.size === undefined ? { deferredLength: true } : {}) },
          },
          tx,
        );
      });
    } catch (error) {
      await disk.driver.resumable.discard(upload.id, file.storageKey, backend).catch(() => {});
      throw error;
    }
    this.rememberHash(upload.id, { hash: createHash("sha256"), bytes: 0 });
    upload.creation_date = new Date(expiresAt.getTime() - this.ctx.env.tusExpiryMs).toISOString();
    upload.storage = { type: disk.driver.kind, path: file.storageKey };
    // A 0-byte upload has all its bytes now.
    if (upload.size === 0) await this.finish((await findResumableUpload(this.ctx.db, upload.id)) as ResumableUpload);
    return upload;
  }

  private async load(id: string): Promise<ResumableUploadWithKey> {
    const row = await findResumableUpload(this.ctx.db, id);
    if (!row) throw ERRORS.FILE_NOT_FOUND;
    if (row.status === "terminated") throw ERRORS.FILE_NO_LONGER_EXISTS;
    return row;
  }

  override async getUpload(id: string): Promise<Upload> {
    let row = await this.load(id);
    if (row.status === "active" && row.length !== null && row.offset === row.length) {
      // Every byte was acknowledged but the completion failed (or its replica died): a client that sees the full
      // offset stops, so whoever asks next (HEAD or PATCH, under the upload's lock) completes it, or is refused.
      await this.finish(row);
      row = await this.load(id);
    }
    const state = tusRequests.getStore();
    if (state) state.upload = row;
    // @tus/server computes expiry as creation_date + getExpiration(); Depot's expiry slides with progress, so the
    // row's last progress stands in for the creation date. A finished upload never expires.
    const since = row.status === "completed" ? Date.now() : row.expiresAt.getTime() - this.ctx.env.tusExpiryMs;
    return new Upload({
      id,
      size: row.length ?? undefined,
      offset: row.offset,
      metadata: row.metadata,
      creation_date: new Date(since).toISOString(),
    });
  }

  override async declareUploadLength(id: string, length: number): Promise<void> {
    current().upload = undefined;
    if (!(await declareResumableLength(this.ctx.db, id, length))) throw ERRORS.INVALID_LENGTH;
  }

  override async write(stream: Readable, id: string, offset: number): Promise<number> {
    // Read under this request's lock moments ago, unless something between getUpload and here changed it.
    const state = current();
    const row = state.upload?.id === id ? state.upload : await this.load(id);
    state.upload = undefined;
    if (row.offset !== offset) throw ERRORS.INVALID_OFFSET;
    if (row.status === "completed") {
      for await (const _ of stream) {
        // nothing may follow the last byte; StreamLimiter already refuses more
      }
      return row.offset;
    }
    const { driver } = this.ctx.disks.get(row.disk);

    let running: RunningHash | undefined = this.hashes.get(id);
    if (!running || running.bytes !== offset) {
      // This replica missed bytes (another one took PATCHes meanwhile): hash them from the disk if it can.
      if (!running || running.bytes > offset) running = { hash: createHash("sha256"), bytes: 0 };
      const missed = await driver.resumable.readKept(id, row.backend, running.bytes, offset);
      if (missed) {
        await hashInto(running, missed);
        this.rememberHash(id, running);
      } else {
        running = undefined; // hashed once from the finished object instead
        this.hashes.delete(id);
      }
    }
    const result = await driver.resumable.append({
      id,
      key: row.storageKey,
      backend: row.backend,
      offset,
      length: row.length,
      source: stream,
      onDurable: (chunk) => {
        if (!running) return;
        running.hash.update(chunk);
        running.bytes += chunk.length;
      },
    });
    if (running && running.bytes !== result.offset) this.hashes.delete(id);
    if (result.offset !== offset || result.backend !== row.backend) {
      const expiresAt = new Date(Date.now() + this.ctx.env.tusExpiryMs);
      const recorded = await recordResumableProgress(this.ctx.db, {
        id,
        from: offset,
        to: result.offset,
        backend: result.backend,
        expiresAt,
      });
      if (!recorded) throw new DepotError("conflict", "the upload moved on while this request wrote to it");
    }
    if (result.error !== undefined) throw result.error;
    if (row.length !== null && result.offset === row.length) {
      await this.finish({ ...row, offset: result.offset, backend: result.backend });
    }
    return result.offset;
  }

  /** Moves the bytes into the file's object, then records it stored, fail-closed: a retried PATCH finishes again. */
  private async finish(row: ResumableUpload): Promise<void> {
    const state = current();
    const file = await findFile(this.ctx.db, row.fileId);
    if (!file) throw ERRORS.FILE_NOT_FOUND;
    const { driver } = this.ctx.disks.get(row.disk);
    const length = row.length ?? row.offset;
    const common = { cohortId: file.cohortId, fileId: file.id, disk: row.disk, storageKey: file.storageKey };
    try {
      await driver.resumable.finish({ id: row.id, key: file.storageKey, backend: row.backend, length });
      let running = this.hashes.get(row.id);
      if (!running || running.bytes !== length) {
        running = { hash: createHash("sha256"), bytes: 0 };
        await hashInto(running, await driver.read(file.storageKey));
        if (running.bytes !== length) throw new DepotError("internal", "the stored object does not have the length");
      }
      const sha256 = running.hash.copy().digest("hex");
      await this.ctx.db.transaction(async (tx) => {
        if (!(await markFileStored(tx, file.id, { size: length, sha256 }, { keepUploadId: true }))) {
          throw new DepotError("conflict", "the file record is no longer waiting for this upload");
        }
        await setResumableStatus(tx, row.id, "completed");
        await state.request.audit(
          {
            ...common,
            action: "chunked_upload_completed",
            outcome: "success",
            bytes: length,
            sha256,
            metadata: { uploadId: row.id },
          },
          tx,
        );
      });
      this.hashes.delete(row.id);
      state.finished = { size: length, sha256, fileId: file.id };
    } catch (error) {
      await state.request
        .audit({ ...common, action: "chunked_upload_completed", outcome: "failure", error: toDepotError(error).code })
        .catch(() => {});
      throw error instanceof DepotError
        ? error
        : new DepotError("unavailable", "the upload could not be completed; retry the last request to complete it");
    }
  }

  override async remove(id: string): Promise<void> {
    const row = await this.load(id);
    // Ending a finished upload leaves its file alone: deleting a file is DELETE /api/files/<id>.
    if (row.status === "completed") return;
    const state = current();
    const { driver } = this.ctx.disks.get(row.disk);
    const file = await findFile(this.ctx.db, row.fileId);
    await this.ctx.db.transaction(async (tx) => {
      await setResumableStatus(tx, id, "terminated");
      await markFileFailed(tx, row.fileId);
      await state.request.audit(
        {
          action: "chunked_upload_aborted",
          outcome: "success",
          cohortId: file?.cohortId,
          fileId: row.fileId,
          disk: row.disk,
          storageKey: file?.storageKey,
          bytes: row.offset,
          metadata: { uploadId: id, reason: "terminated" },
        },
        tx,
      );
    });
    this.hashes.delete(id);
    if (file) await driver.resumable.discard(id, file.storageKey, row.backend).catch(() => {});
  }
}
