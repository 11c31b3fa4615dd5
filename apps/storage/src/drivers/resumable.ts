import type { Readable } from "node:stream";

/** What a driver keeps about one unfinished upload (persisted in the upload's row), e.g. S3 multipart state. */
export type BackendState = Record<string, unknown>;

export interface AppendResult {
  /** Where the upload's durable bytes now end: the kept part of the source counts even if the source failed. */
  offset: number;
  backend: BackendState;
  /** Why the source or the disk stopped early; the bytes before it are kept (and were passed to onDurable). */
  error?: unknown;
}

/**
 * The bytes of a resumable upload before it becomes an object, written once: appended to one file on a local
 * disk, sent as multipart parts on S3. Finishing moves metadata only (a rename, CompleteMultipartUpload).
 * Callers hold the upload's lock: no two calls for one upload ever overlap, on any replica.
 */
export interface ResumableStore {
  /** Prepares an upload whose object will live at `key`. */
  begin(id: string, key: string): Promise<BackendState>;
  /**
   * Writes `source` at `offset` (the recorded offset: anything a dead writer left past it is dropped). Every byte
   * is passed to onDurable, in order, once it is stored; before the promise resolves it is durable (fsync, or a
   * stored part), so the caller may acknowledge it. `length` is the upload's length when known.
   */
  append(input: {
    id: string;
    key: string;
    backend: BackendState;
    offset: number;
    length: number | null;
    source: Readable;
    onDurable: (chunk: Buffer) => void;
  }): Promise<AppendResult>;
  /** Bytes [start, end) of an unfinished upload, or null when the disk cannot read them back (S3 parts). */
  readKept(id: string, backend: BackendState, start: number, end: number): Promise<Readable | null>;
  /** Makes the upload the object at `key`; safe to call again after it succeeded (a retried completion). */
  finish(input: { id: string; key: string; backend: BackendState; length: number }): Promise<void>;
  /** Removes everything kept for an unfinished upload. */
  discard(id: string, key: string, backend: BackendState): Promise<void>;
}
