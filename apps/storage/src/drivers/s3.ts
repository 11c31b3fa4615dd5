import { randomUUID } from "node:crypto";
import { PassThrough, Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  type HeadObjectCommandOutput,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
  UploadPartCommand,
  UploadPartCopyCommand,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { DepotError, validateKey } from "@depot/contract";
import type { S3DiskConfig } from "./config";
import type {
  ByteRange,
  DiskUsage,
  ListPage,
  ObjectInfo,
  StorageDriver,
  UnfinishedUpload,
  WriteOptions,
  WriteResult,
} from "./driver";
import { usageByPrefix } from "./listing";
import { checkExpectations, Meter } from "./meter";
import type { AppendResult, BackendState, ResumableStore } from "./resumable";

/** Internal objects start with "." so they can never collide with a valid key (segments start alphanumeric). */
const TEMP_PREFIX = ".tmp/";
const HEALTH_PREFIX = ".health/";

/** lib-storage buffers at most partSize × (queueSize + 1) bytes per write. */
export const S3_UPLOAD_PART_BYTES = 8 * 1024 * 1024;
export const S3_UPLOAD_QUEUE_SIZE = 2;

/** CopyObject copies at most 5 GB in one request; anything larger is copied part by part. */
const MAX_SINGLE_COPY_BYTES = 5 * 1000 ** 3;
const COPY_PART_BYTES = 512 * 1024 * 1024;
const MAX_MULTIPART_PARTS = 10_000;

const CONNECTION_TIMEOUT_MS = 10_000;

const NETWORK_ERROR_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "ESOCKETTIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "ENETUNREACH",
]);
const MISSING_OBJECT_ERRORS = new Set(["NoSuchKey", "NotFound"]);

interface SdkErrorShape {
  name?: unknown;
  code?: unknown;
  cause?: unknown;
  errors?: unknown;
  $metadata?: { httpStatusCode?: number };
}

const asShape = (error: unknown): SdkErrorShape => (error !== null && typeof error === "object" ? error : {});

function isNetworkFailure(error: unknown, depth = 0): boolean {
  if (depth > 3 || error === null || typeof error !== "object") return false;
  const shape = asShape(error);
  if (shape.name === "TimeoutError") return true;
  if (typeof shape.code === "string" && NETWORK_ERROR_CODES.has(shape.code)) return true;
  // Node reports connection failures of dual-stack lookups as an AggregateError.
  if (Array.isArray(shape.errors) && shape.errors.some((inner) => isNetworkFailure(inner, depth + 1))) return true;
  return isNetworkFailure(shape.cause, depth + 1);
}

function isMissingObject(error: unknown): boolean {
  const name = asShape(error).name;
  return typeof name === "string" && MISSING_OBJECT_ERRORS.has(name);
}

function withCause(error: DepotError, cause: unknown): DepotError {
  error.cause = cause;
  return error;
}

function mapS3Error(error: unknown): unknown {
  if (error instanceof DepotError) return error;
  if (isMissingObject(error)) return withCause(new DepotError("not_found", "no such object"), error);
  const status = asShape(error).$metadata?.httpStatusCode ?? 0;
  if (isNetworkFailure(error) || status >= 500) {
    return withCause(new DepotError("unavailable", "the S3 endpoint is unreachable"), error);
  }
  return error;
}

/**
 * The client every S3 disk uses. Checksums only WHEN_REQUIRED: with the SDK's default a streamed PutObject goes
 * aws-chunked with a trailing CRC32, which S3 servers older than that extension refuse (Ceph 16, Debian 12's RADOS
 * Gateway, answers MissingContentLength), and Depot checks its own sha256 of every byte anyway.
 */
export function createS3Client(config: S3DiskConfig, overrides: Partial<S3ClientConfig> = {}): S3Client {
  return new S3Client({
    region: config.region,
    endpoint: config.endpoint,
    forcePathStyle: config.force_path_style,
    credentials: { accessKeyId: config.access_key, secretAccessKey: config.secret_key },
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    // No idle timeout: a download paused by a slow reader must not be cut off.
    requestHandler: { connectionTimeout: CONNECTION_TIMEOUT_MS },
    ...overrides,
  });
}

/** A bucket (or a prefix inside one) on any S3 API: AWS, MinIO, Ceph. */
export class S3Driver implements StorageDriver {
  readonly kind = "s3" as const;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly client: S3Client;
  readonly resumable: ResumableStore;

  constructor(config: S3DiskConfig, client?: S3Client) {
    this.bucket = config.bucket;
    this.prefix = config.prefix;
    this.client = client ?? createS3Client(config);
    this.resumable = new S3Resumable(this.client, this.bucket, (key) => this.objectKey(key), this.prefix);
  }

  private objectKey(key: string): string {
    return this.prefix + validateKey(key);
  }

  async write(key: string, source: Readable, options: WriteOptions): Promise<WriteResult> {
    const finalKey = this.objectKey(key);
    const tempKey = `${this.prefix}${TEMP_PREFIX}${randomUUID()}`;
    const meter = new Meter(options.maxBytes);
    // Not the meter itself: lib-storage takes a body's `size` property for its length, and Meter counts in `size`.
    const body = new PassThrough();
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: tempKey, Body: body },
      partSize: S3_UPLOAD_PART_BYTES,
      queueSize: S3_UPLOAD_QUEUE_SIZE,
      // The driver aborts the multipart upload itself: lib-storage would replace the real error with the abort's own.
      leavePartsOnError: true,
    });
    // Both settle on any failure: a stream error fails the upload's reads, and a failed upload stops reading the
    // body, which closes the pipeline. Waiting for both means no request is still in flight during cleanup, so a
    // late PutObject can never recreate a temporary object after it was deleted.
    const [streamed, uploaded] = await Promise.allSettled([
      pipeline(source, meter, body, { signal: options.signal }),
      upload.done(),
    ]);
    let result: WriteResult;
    try {
      const failure = firstFailure(streamed, uploaded, options.signal);
      if (failure) throw failure.error;
      options.signal?.throwIfAborted();
      result = { size: meter.size, sha256: meter.digest() };
      checkExpectations(result, options);
      await this.publish(tempKey, finalKey, result);
    } catch (error) {
      if (upload.uploadId && uploaded.status === "rejected") await this.abortMultipartQuietly(tempKey, upload.uploadId);
      await this.deleteQuietly(tempKey);
      throw mapS3Error(error);
    }
    // The object is already visible: a leftover temporary object is garbage, not a failed write.
    await this.deleteQuietly(tempKey);
    return result;
  }

  /** Makes the finished temporary object visible at its key, refusing to replace an existing object. */
  private async publish(tempKey: string, finalKey: string, result: WriteResult): Promise<void> {
    // S3 cannot copy conditionally; keys are unique ids, so the check only guards against a caller's mistake.
    if (await this.head(finalKey)) throw new DepotError("conflict", "an object already exists at this key");
    const metadata = { sha256: result.sha256 };
    if (result.size <= MAX_SINGLE_COPY_BYTES) {
      await this.client.send(
        new CopyObjectCommand({
          Bucket: this.bucket,
          Key: finalKey,
          CopySource: this.copySource(tempKey),
          MetadataDirective: "REPLACE",
          Metadata: metadata,
        }),
      );
      return;
    }
    await this.copyInParts(tempKey, finalKey, result.size, metadata);
  }

  private async copyInParts(
    tempKey: string,
    finalKey: string,
    size: number,
    metadata: Record<string, string>,
  ): Promise<void> {
    const { UploadId } = await this.client.send(
      new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: finalKey, Metadata: metadata }),
    );
    if (!UploadId) throw new Error("S3 returned no upload id for the multipart copy");
    try {
      const partBytes = Math.max(COPY_PART_BYTES, Math.ceil(size / MAX_MULTIPART_PARTS));
      const parts: { PartNumber: number; ETag: string | undefined }[] = [];
      for (let start = 0, partNumber = 1; start < size; start += partBytes, partNumber += 1) {
        const end = Math.min(size, start + partBytes) - 1;
        const copied = await this.client.send(
          new UploadPartCopyCommand({
            Bucket: this.bucket,
            Key: finalKey,
            UploadId,
            PartNumber: partNumber,
            CopySource: this.copySource(tempKey),
            CopySourceRange: `bytes=${start}-${end}`,
          }),
        );
        parts.push({ PartNumber: partNumber, ETag: copied.CopyPartResult?.ETag });
      }
      await this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key: finalKey,
          UploadId,
          MultipartUpload: { Parts: parts },
        }),
      );
    } catch (error) {
      await this.abortMultipartQuietly(finalKey, UploadId);
      throw error;
    }
  }

  private copySource(objectKey: string): string {
    return `${this.bucket}/${objectKey.split("/").map(encodeURIComponent).join("/")}`;
  }

  /** Cleanup must never hide the error that caused it; an upload left unaborted is found by `pnpm cleanup`. */
  private async abortMultipartQuietly(objectKey: string, uploadId: string): Promise<void> {
    await this.client
      .send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: objectKey, UploadId: uploadId }))
      .catch(() => undefined);
  }

  private async deleteQuietly(objectKey: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: objectKey })).catch(() => undefined);
  }

  /** HeadObject, or null when the object does not exist. */
  private async head(objectKey: string): Promise<HeadObjectCommandOutput | null> {
    try {
      return await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: objectKey }));
    } catch (error) {
      if (isMissingObject(error)) return null;
      throw mapS3Error(error);
    }
  }

  async read(key: string, range?: ByteRange): Promise<Readable> {
    const objectKey = this.objectKey(key);
    try {
      const output = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: objectKey,
          Range: range ? `bytes=${range.start}-${range.end}` : undefined,
        }),
      );
      if (!(output.Body instanceof Readable)) throw new Error("S3 returned a body that is not a Node stream");
      if (range && output.ContentRange?.split("/")[0] !== `bytes ${range.start}-${range.end}`) {
        // Never other bytes than the ones asked for (an endpoint that ignores Range answers with the whole object).
        output.Body.destroy();
        throw new Error(
          `S3 answered ${output.ContentRange ?? "without Content-Range"} to bytes=${range.start}-${range.end}`,
        );
      }
      return output.Body;
    } catch (error) {
      throw mapS3Error(error);
    }
  }

  async stat(key: string): Promise<ObjectInfo | null> {
    const head = await this.head(this.objectKey(key));
    if (!head) return null;
    return { key, size: head.ContentLength ?? 0, modifiedAt: head.LastModified ?? new Date(0) };
  }

  async delete(key: string): Promise<boolean> {
    const objectKey = this.objectKey(key);
    if (!(await this.head(objectKey))) return false;
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: objectKey }));
      return true;
    } catch (error) {
      throw mapS3Error(error);
    }
  }

  async list(prefix: string, options: { limit: number; cursor?: string }): Promise<ListPage> {
    const slash = prefix.lastIndexOf("/");
    if (slash > 0) validateKey(prefix.slice(0, slash));
    // "." sorts before "/" and "/" before every character a key may start with, so starting after "/" skips the
    // temporary and probe objects at the top level instead of paging through them.
    const floor = prefix === "" ? "/" : "";
    const startAfter = this.prefix + maxString(options.cursor ?? "", floor);
    const items: ObjectInfo[] = [];
    let continuationToken: string | undefined;
    do {
      const page = await this.client
        .send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: this.prefix + prefix,
            StartAfter: continuationToken || startAfter === this.prefix ? undefined : startAfter,
            ContinuationToken: continuationToken,
            // One more than the page needs, to learn whether another page exists.
            MaxKeys: Math.min(1000, options.limit + 1 - items.length),
          }),
        )
        .catch((error: unknown) => {
          throw mapS3Error(error);
        });
      for (const object of page.Contents ?? []) {
        if (!object.Key?.startsWith(this.prefix)) continue;
        const key = object.Key.slice(this.prefix.length);
        if (key.startsWith(".") || key.includes("/.")) continue;
        if (items.length === options.limit) return { items, nextCursor: items.at(-1)?.key ?? null };
        items.push({ key, size: object.Size ?? 0, modifiedAt: object.LastModified ?? new Date(0) });
      }
      continuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (continuationToken);
    return { items, nextCursor: null };
  }

  async listTemporaries(): Promise<ObjectInfo[]> {
    const prefix = `${this.prefix}${TEMP_PREFIX}`;
    const found: ObjectInfo[] = [];
    let continuationToken: string | undefined;
    do {
      const page = await this.client
        .send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: continuationToken }))
        .catch((error: unknown) => {
          throw mapS3Error(error);
        });
      for (const object of page.Contents ?? []) {
        if (!object.Key) continue;
        found.push({
          key: object.Key.slice(prefix.length),
          size: object.Size ?? 0,
          modifiedAt: object.LastModified ?? new Date(0),
        });
      }
      continuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (continuationToken);
    return found;
  }

  async deleteTemporary(name: string): Promise<void> {
    if (!/^[A-Za-z0-9._-]{1,100}$/.test(name) || name.startsWith(".")) {
      throw new DepotError("invalid_key", "not a temporary object name");
    }
    await this.client
      .send(new DeleteObjectCommand({ Bucket: this.bucket, Key: `${this.prefix}${TEMP_PREFIX}${name}` }))
      .catch((error: unknown) => {
        throw mapS3Error(error);
      });
  }

  async listUnfinishedUploads(): Promise<UnfinishedUpload[]> {
    const found: UnfinishedUpload[] = [];
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    do {
      const page = await this.client
        .send(
          new ListMultipartUploadsCommand({
            Bucket: this.bucket,
            Prefix: this.prefix || undefined,
            KeyMarker: keyMarker,
            UploadIdMarker: uploadIdMarker,
          }),
        )
        .catch((error: unknown) => {
          throw mapS3Error(error);
        });
      for (const upload of page.Uploads ?? []) {
        if (!upload.Key?.startsWith(this.prefix) || !upload.UploadId) continue;
        found.push({
          key: upload.Key.slice(this.prefix.length),
          uploadId: upload.UploadId,
          initiatedAt: upload.Initiated ?? new Date(0),
          bytes: await this.partBytes(upload.Key, upload.UploadId),
        });
      }
      keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
      uploadIdMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined;
    } while (keyMarker);
    return found;
  }

  private async partBytes(objectKey: string, uploadId: string): Promise<number> {
    let bytes = 0;
    let marker: string | undefined;
    do {
      const page = await this.client
        .send(
          new ListPartsCommand({ Bucket: this.bucket, Key: objectKey, UploadId: uploadId, PartNumberMarker: marker }),
        )
        .catch((error: unknown) => {
          // Completed or aborted since it was listed.
          if (asShape(error).name === "NoSuchUpload")
            return { Parts: [], IsTruncated: false, NextPartNumberMarker: undefined };
          throw mapS3Error(error);
        });
      for (const part of page.Parts ?? []) bytes += part.Size ?? 0;
      marker = page.IsTruncated ? page.NextPartNumberMarker : undefined;
    } while (marker);
    return bytes;
  }

  async abortUnfinishedUpload(upload: UnfinishedUpload): Promise<void> {
    await this.client
      .send(
        new AbortMultipartUploadCommand({
          Bucket: this.bucket,
          Key: this.prefix + upload.key,
          UploadId: upload.uploadId,
        }),
      )
      .catch((error: unknown) => {
        // Gone already (completed or aborted meanwhile): nothing is left behind, which is what was asked.
        if (asShape(error).name === "NoSuchUpload") return;
        throw mapS3Error(error);
      });
  }

  async usage(): Promise<DiskUsage> {
    return { byPrefix: await usageByPrefix(this), freeBytes: null };
  }

  async probe(): Promise<void> {
    const objectKey = `${this.prefix}${HEALTH_PREFIX}${randomUUID()}`;
    const content = `probe ${new Date().toISOString()}`;
    try {
      await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: objectKey, Body: content }));
      const output = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: objectKey }));
      if ((await output.Body?.transformToString("utf8")) !== content) {
        throw new Error("probe read back different bytes");
      }
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: objectKey }));
    } catch (error) {
      await this.deleteQuietly(objectKey);
      throw mapS3Error(error);
    }
  }
}

/**
 * The error that explains a failed write. A premature close of the stream is only a consequence when the upload
 * itself failed (it stops reading), so the upload's error wins then.
 */
function firstFailure(
  streamed: PromiseSettledResult<unknown>,
  uploaded: PromiseSettledResult<unknown>,
  signal: AbortSignal | undefined,
): { error: unknown } | null {
  // The stream's own refusal (too_large) or the caller's abort says what happened; otherwise a failed upload does,
  // and the stream then only failed because lib-storage stopped reading it (premature close or its abort).
  if (streamed.status === "rejected" && (streamed.reason instanceof DepotError || signal?.aborted)) {
    return { error: streamed.reason };
  }
  if (uploaded.status === "rejected") return { error: uploaded.reason };
  if (streamed.status === "rejected") return { error: streamed.reason };
  return null;
}

const maxString = (a: string, b: string) => (a > b ? a : b);

/** Multipart parts of a resumable upload; S3 wants at least 5 MiB in every part but the last. */
const RESUMABLE_PART_BYTES = 8 * 1024 * 1024;
const MIN_PART_BYTES = 5 * 1024 * 1024;

interface S3Backend extends BackendState {
  multipartId: string;
  parts: { n: number; etag: string; size: number }[];
  /** Bytes kept in the tail object: the end of a PATCH too short for a part, joined to the next part later. */
  tail: number;
}

const asBackend = (backend: BackendState): S3Backend => {
  const b = backend as Partial<S3Backend>;
  if (typeof b.multipartId !== "string" || !Array.isArray(b.parts) || typeof b.tail !== "number") {
    throw new DepotError("internal", "the upload's S3 state is missing");
  }
  return { multipartId: b.multipartId, parts: [...b.parts], tail: b.tail };
};

/**
 * A resumable upload on S3: a multipart upload straight at the object's final key. Each full part is sent as
 * it arrives (one in flight while the next fills, 8 MiB each, so memory stays bounded); what is left at the end of
 * a PATCH goes to a small tail object, read back and sent with the next part. CompleteMultipartUpload finishes.
 */
class S3Resumable implements ResumableStore {
  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly objectKey: (key: string) => string,
    private readonly prefix: string,
  ) {}

  private tailKey(id: string): string {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) throw new DepotError("invalid_key", "not an upload id");
    return `${this.prefix}.tus/${id}.tail`;
  }

  private async send<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      throw mapS3Error(error);
    }
  }

  async begin(_id: string, key: string): Promise<BackendState> {
    const { UploadId } = await this.send(() =>
      this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: this.objectKey(key) })),
    );
    if (!UploadId) throw new DepotError("unavailable", "S3 returned no multipart upload id");
    return { multipartId: UploadId, parts: [], tail: 0 } satisfies S3Backend;
  }

  private async uploadPart(key: string, state: S3Backend, body: Buffer): Promise<void> {
    const n = (state.parts.at(-1)?.n ?? 0) + 1;
    const { ETag } = await this.send(() =>
      this.client.send(
        new UploadPartCommand({
          Bucket: this.bucket,
          Key: this.objectKey(key),
          UploadId: state.multipartId,
          PartNumber: n,
          Body: body,
          ContentLength: body.length,
        }),
      ),
    );
    state.parts.push({ n, etag: ETag ?? "", size: body.length });
  }

  private async readTail(id: string, size: number): Promise<Buffer> {
    if (size === 0) return Buffer.alloc(0);
    const output = await this.send(() =>
      this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.tailKey(id) })),
    );
    const bytes = Buffer.from((await output.Body?.transformToByteArray()) ?? []);
    if (bytes.length !== size) throw new DepotError("internal", "the upload's tail object has the wrong size");
    return bytes;
  }

  async append(input: Parameters<ResumableStore["append"]>[0]): Promise<AppendResult> {
    const state = asBackend(input.backend);
    const kept = () => state.parts.reduce((n, p) => n + p.size, 0) + state.tail;
    if (kept() !== input.offset) throw new DepotError("internal", "the upload's S3 state does not match its offset");
    // The buffer starts with the tail (already durable and hashed); `fresh` counts the bytes after it.
    const chunks: Buffer[] = [await this.readTail(input.id, state.tail)];
    let buffered = state.tail;
    let oldTail = state.tail;
    let failure: unknown;
    let pending: Promise<void> = Promise.resolve();
    const flushPart = async (final: boolean) => {
      const all = Buffer.concat(chunks);
      const size = final ? all.length : RESUMABLE_PART_BYTES;
      const body = all.subarray(0, size);
      chunks.length = 0;
      chunks.push(all.subarray(size));
      buffered = all.length - size;
      const freshStart = oldTail;
      oldTail = 0;
      await pending;
      pending = (async () => {
        await this.uploadPart(input.key, state, body);
        // The old tail is now inside a part: the durable end is the parts alone until a new tail is stored.
        state.tail = 0;
        if (body.length > freshStart) input.onDurable(body.subarray(freshStart));
      })();
      pending.catch(() => {});
    };
    try {
      for await (const chunk of input.source as AsyncIterable<Buffer>) {
        chunks.push(chunk);
        buffered += chunk.length;
        if (buffered >= RESUMABLE_PART_BYTES) await flushPart(false);
      }
    } catch (error) {
      failure = error;
    }
    try {
      await pending;
      const rest = Buffer.concat(chunks);
      const ends = input.length !== null && kept() + rest.length === input.length;
      if (rest.length > oldTail || (ends && rest.length > 0)) {
        if (ends || rest.length >= MIN_PART_BYTES) {
          chunks.length = 0;
          chunks.push(rest);
          await flushPart(true);
          await pending;
        } else {
          await this.send(() =>
            this.client.send(
              new PutObjectCommand({
                Bucket: this.bucket,
                Key: this.tailKey(input.id),
                Body: rest,
                ContentLength: rest.length,
              }),
            ),
          );
          state.tail = rest.length;
          input.onDurable(rest.subarray(oldTail));
        }
      }
    } catch (error) {
      failure ??= error;
    }
    return { offset: kept(), backend: state, ...(failure === undefined ? {} : { error: mapS3Error(failure) }) };
  }

  async readKept(): Promise<Readable | null> {
    return null; // parts of an unfinished multipart upload cannot be read back
  }

  async finish(input: { id: string; key: string; backend: BackendState; length: number }): Promise<void> {
    const state = asBackend(input.backend);
    const objectKey = this.objectKey(input.key);
    if (state.tail > 0) {
      await this.uploadPart(input.key, state, await this.readTail(input.id, state.tail));
      state.tail = 0;
    }
    try {
      if (state.parts.length === 0) {
        await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: objectKey, Body: Buffer.alloc(0) }));
        await this.client
          .send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: objectKey, UploadId: state.multipartId }))
          .catch(() => undefined);
      } else {
        await this.client.send(
          new CompleteMultipartUploadCommand({
            Bucket: this.bucket,
            Key: objectKey,
            UploadId: state.multipartId,
            MultipartUpload: { Parts: state.parts.map((p) => ({ PartNumber: p.n, ETag: p.etag })) },
          }),
        );
      }
    } catch (error) {
      // Completed before (a retried completion): the object is there with the upload's length.
      const placed = await this.client
        .send(new HeadObjectCommand({ Bucket: this.bucket, Key: objectKey }))
        .catch(() => undefined);
      if (placed?.ContentLength !== input.length) throw mapS3Error(error);
    }
    await this.client
      .send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.tailKey(input.id) }))
      .catch(() => undefined);
  }

  async discard(id: string, key: string, backend: BackendState): Promise<void> {
    const multipartId = (backend as Partial<S3Backend>).multipartId;
    if (typeof multipartId === "string") {
      // An abort that fails (S3 away) leaves the parts to cleanup's unfinished-multipart pass and the bucket's
      // lifecycle rule.
      await this.client
        .send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: this.objectKey(key), UploadId: multipartId }))
        .catch(() => undefined);
    }
    await this.client
      .send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.tailKey(id) }))
      .catch(() => undefined);
  }
}
