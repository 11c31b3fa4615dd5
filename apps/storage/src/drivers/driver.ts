import type { Readable } from "node:stream";

export interface WriteOptions {
  /** The write fails with too_large as soon as more bytes than this arrive. */
  maxBytes: number;
  expectedSha256?: string;
  expectedSize?: number;
  signal?: AbortSignal;
}

export interface WriteResult {
  size: number;
  sha256: string;
}

export interface ObjectInfo {
  key: string;
  size: number;
  modifiedAt: Date;
}

export interface ByteRange {
  start: number;
  /** Inclusive, as in HTTP Range. */
  end: number;
}

export interface ListPage {
  items: ObjectInfo[];
  nextCursor: string | null;
}

/** A multipart upload that was started and neither completed nor aborted (S3 only). */
export interface UnfinishedUpload {
  /** The object key inside the disk's prefix (a temporary's starts with ".tmp/"). */
  key: string;
  uploadId: string;
  initiatedAt: Date;
  /** What its parts hold so far. */
  bytes: number;
}

export interface DiskUsage {
  byPrefix: Record<string, { bytes: number; files: number }>;
  freeBytes: number | null;
}

/**
 * What every disk can do. Keys reaching a driver are already validated with validateKey; drivers
 * check again where the backing store adds its own risks (symlinks on a local disk).
 * Every implementation runs the shared conformance suite (conformance.ts).
 */
export interface StorageDriver {
  readonly kind: "local" | "s3";
  /** Streams `source` into a temporary object and makes it visible at `key` only when complete and verified. */
  write(key: string, source: Readable, options: WriteOptions): Promise<WriteResult>;
  /** Throws not_found for a missing key; `range` must lie within the object (the caller checks with stat). */
  read(key: string, range?: ByteRange): Promise<Readable>;
  stat(key: string): Promise<ObjectInfo | null>;
  /** Returns whether something was removed. */
  delete(key: string): Promise<boolean>;
  /** Keys in ascending order, starting after `cursor`. */
  list(prefix: string, options: { limit: number; cursor?: string }): Promise<ListPage>;
  usage(): Promise<DiskUsage>;
  /** A real write, read and delete of a small object outside the key space. */
  probe(): Promise<void>;
  /** Temporary objects of writes still running or never finished (their process died); outside the key space. */
  listTemporaries(): Promise<ObjectInfo[]>;
  deleteTemporary(name: string): Promise<void>;
  /**
   * Multipart uploads under the disk's prefix still in progress, or left by a process that died mid-write; their
   * parts cost storage and hold uploaded bytes until aborted. Only disks that have them (S3) implement these.
   */
  listUnfinishedUploads?(): Promise<UnfinishedUpload[]>;
  abortUnfinishedUpload?(upload: UnfinishedUpload): Promise<void>;
}
