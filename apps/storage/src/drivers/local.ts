import { randomUUID } from "node:crypto";
import {
  link,
  lstat,
  mkdir,
  open,
  readdir,
  readFile,
  realpath,
  rm,
  stat,
  statfs,
  unlink,
  writeFile,
} from "node:fs/promises";
import { dirname, join, sep } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { DepotError, validateKey } from "@depot/contract";
import type { ByteRange, DiskUsage, ListPage, ObjectInfo, StorageDriver, WriteOptions, WriteResult } from "./driver";
import { usageByPrefix } from "./listing";
import { checkExpectations, Meter } from "./meter";
import type { AppendResult, BackendState, ResumableStore } from "./resumable";

/** Temporary objects live on the same filesystem as their final place, so the final move is an atomic link. */
const TEMP_DIR = ".tmp";
/** Unfinished resumable uploads, one file each, appended to and finally linked into place. */
const TUS_DIR = ".tus";
const UPLOAD_ID = /^[A-Za-z0-9_-]{1,64}$/;
const WRITE_BATCH_BYTES = 1024 * 1024;

const errno = (error: unknown) => (error as NodeJS.ErrnoException | undefined)?.code;

function mapFsError(error: unknown): unknown {
  switch (errno(error)) {
    case "ENOSPC":
    case "EDQUOT":
      return new DepotError("disk_full", "the storage disk is full");
    case "ENOENT":
      return new DepotError("not_found", "no such object");
    case "EEXIST":
      return new DepotError("conflict", "an object already exists at this key");
    default:
      return error;
  }
}

/** A folder on a local disk or NAS mount. */
export class LocalDriver implements StorageDriver {
  readonly kind = "local" as const;
  private realRoot: string | undefined;

  readonly resumable: ResumableStore;

  constructor(private readonly root: string) {
    this.resumable = new LocalResumable(this);
  }

  /** @internal The real root folder (created on first use). */
  async rootPath(): Promise<string> {
    return this.resolveRoot();
  }

  /** @internal The checked path of a key (see pathOf). */
  async checkedPath(key: string): Promise<string> {
    return this.pathOf(key);
  }

  private async resolveRoot(): Promise<string> {
    if (!this.realRoot) {
      await mkdir(join(this.root, TEMP_DIR), { recursive: true });
      this.realRoot = await realpath(this.root);
    }
    return this.realRoot;
  }

  /**
   * The path of a key, refused unless its real location lies inside the root (symlinks included).
   * Folders that do not exist yet are judged by their deepest existing ancestor.
   */
  private async pathOf(key: string): Promise<string> {
    validateKey(key);
    const root = await this.rootPath();
    const path = join(root, key);
    let existingAncestor = dirname(path);
    let realAncestor: string | undefined;
    while (!realAncestor) {
      try {
        realAncestor = await realpath(existingAncestor);
      } catch (error) {
        if (errno(error) !== "ENOENT" || existingAncestor === root) throw error;
        existingAncestor = dirname(existingAncestor);
      }
    }
    if (realAncestor !== root && !realAncestor.startsWith(root + sep)) {
      throw new DepotError("invalid_key", "storage key resolves outside the disk");
    }
    const existing = await lstat(path).catch(() => undefined);
    if (existing?.isSymbolicLink()) throw new DepotError("invalid_key", "storage key resolves to a symbolic link");
    if (existing?.isDirectory()) throw new DepotError("invalid_key", "storage key names a folder");
    return path;
  }

  async write(key: string, source: Readable, options: WriteOptions): Promise<WriteResult> {
    await this.pathOf(key);
    const temp = join(await this.rootPath(), TEMP_DIR, `${randomUUID()}.part`);
    const meter = new Meter(options.maxBytes);
    // Opened before the pipeline starts: a write stream that opens lazily could create the file after a source
    // that failed at once had made us remove it, leaving a temporary behind.
    const handle = await open(temp, "wx").catch((error) => {
      throw mapFsError(error);
    });
    try {
      await pipeline(source, meter, handle.createWriteStream(), { signal: options.signal });
      const result = { size: meter.size, sha256: meter.digest() };
      checkExpectations(result, options);
      await fsyncPath(temp);
      // Folders appear only for a complete object; checked again in case one was swapped for a symlink meanwhile.
      await mkdir(dirname(join(await this.rootPath(), key)), { recursive: true });
      const target = await this.pathOf(key);
      await link(temp, target); // fails with EEXIST instead of replacing an object
      await unlink(temp);
      await fsyncPath(dirname(target));
      return result;
    } catch (error) {
      await rm(temp, { force: true });
      throw mapFsError(error);
    }
  }

  async read(key: string, range?: ByteRange): Promise<Readable> {
    const path = await this.pathOf(key);
    const handle = await open(path, "r").catch((error) => {
      throw mapFsError(error);
    });
    return handle.createReadStream(range ? { start: range.start, end: range.end } : {});
  }

  async stat(key: string): Promise<ObjectInfo | null> {
    let path: string;
    try {
      path = await this.pathOf(key);
    } catch (error) {
      if (error instanceof DepotError && error.code === "not_found") return null;
      throw error;
    }
    const info = await stat(path).catch(() => undefined);
    return info?.isFile() ? { key, size: info.size, modifiedAt: info.mtime } : null;
  }

  async delete(key: string): Promise<boolean> {
    const path = await this.pathOf(key).catch((error) => {
      if (error instanceof DepotError && error.code === "not_found") return undefined;
      throw error;
    });
    if (!path) return false;
    try {
      await unlink(path);
      return true;
    } catch (error) {
      if (errno(error) === "ENOENT") return false;
      throw error;
    }
  }

  async list(prefix: string, options: { limit: number; cursor?: string }): Promise<ListPage> {
    const root = await this.rootPath();
    // Walk only the folder the prefix names, in key order, and stop after one page.
    const slash = prefix.lastIndexOf("/");
    const startDir = slash >= 0 ? prefix.slice(0, slash) : "";
    if (startDir) validateKey(startDir);
    const items: ObjectInfo[] = [];
    let more = false;
    const walk = async (relDir: string): Promise<boolean> => {
      const entries = await readdir(join(root, relDir), { withFileTypes: true }).catch((error) => {
        if (errno(error) === "ENOENT") return [];
        throw error;
      });
      // Key order: a folder's keys continue with "/", so "a-b" comes before "a/x".
      const sortKey = (e: (typeof entries)[number]) => (e.isDirectory() ? `${e.name}/` : e.name);
      entries.sort((a, b) => (sortKey(a) < sortKey(b) ? -1 : sortKey(a) > sortKey(b) ? 1 : 0));
      for (const entry of entries) {
        if (entry.name.startsWith(".")) continue;
        const key = relDir ? `${relDir}/${entry.name}` : entry.name;
        if (entry.isDirectory()) {
          if (!(`${key}/`.startsWith(prefix) || prefix.startsWith(`${key}/`))) continue;
          if (options.cursor && !(`${key}/` > options.cursor || options.cursor.startsWith(`${key}/`))) continue;
          if (await walk(key)) return true;
        } else if (entry.isFile() && key.startsWith(prefix) && (!options.cursor || key > options.cursor)) {
          if (items.length === options.limit) {
            more = true;
            return true;
          }
          const info = await stat(join(root, key));
          items.push({ key, size: info.size, modifiedAt: info.mtime });
        }
      }
      return false;
    };
    await walk(startDir);
    return { items, nextCursor: more ? (items.at(-1)?.key ?? null) : null };
  }

  async usage(): Promise<DiskUsage> {
    const fs = await statfs(await this.rootPath());
    return { byPrefix: await usageByPrefix(this), freeBytes: fs.bavail * fs.bsize };
  }

  async listTemporaries(): Promise<ObjectInfo[]> {
    const dir = join(await this.rootPath(), TEMP_DIR);
    const found: ObjectInfo[] = [];
    for (const name of await readdir(dir)) {
      const info = await stat(join(dir, name)).catch(() => undefined);
      if (info?.isFile()) found.push({ key: name, size: info.size, modifiedAt: info.mtime });
    }
    return found;
  }

  async deleteTemporary(name: string): Promise<void> {
    if (!TEMP_NAME.test(name) || name.startsWith("."))
      throw new DepotError("invalid_key", "not a temporary object name");
    await rm(join(await this.rootPath(), TEMP_DIR, name), { force: true });
  }

  async probe(): Promise<void> {
    const path = join(await this.rootPath(), TEMP_DIR, `probe-${randomUUID()}`);
    const content = `probe ${new Date().toISOString()}`;
    try {
      await writeFile(path, content, { flag: "wx" });
      if ((await readFile(path, "utf8")) !== content) throw new Error("probe read back different bytes");
    } finally {
      await rm(path, { force: true });
    }
  }
}

const TEMP_NAME = /^[A-Za-z0-9._-]{1,100}$/;

async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** A resumable upload on a local disk: one file under .tus/, written at the recorded offset, linked into place. */
class LocalResumable implements ResumableStore {
  constructor(private readonly driver: LocalDriver) {}

  private async pathOf(id: string): Promise<string> {
    if (!UPLOAD_ID.test(id)) throw new DepotError("invalid_key", "not an upload id");
    const dir = join(await this.driver.rootPath(), TUS_DIR);
    await mkdir(dir, { recursive: true });
    return join(dir, id);
  }

  async begin(id: string, key: string): Promise<BackendState> {
    await this.driver.checkedPath(key);
    const handle = await open(await this.pathOf(id), "wx").catch((error) => {
      throw mapFsError(error);
    });
    await handle.close();
    return {};
  }

  async append(input: Parameters<ResumableStore["append"]>[0]): Promise<AppendResult> {
    const handle = await open(await this.pathOf(input.id), "r+").catch((error) => {
      throw mapFsError(error);
    });
    let position = input.offset;
    let failure: unknown;
    try {
      // Bytes past the recorded offset were never acknowledged (their writer died before recording them).
      await handle.truncate(input.offset);
      // Bytes are written in batches of about 1 MiB; whatever arrived before a failing source is written too.
      let batch: Buffer[] = [];
      let batchBytes = 0;
      const flush = async () => {
        if (batchBytes === 0) return;
        const buffers = batch;
        batch = [];
        batchBytes = 0;
        const { bytesWritten } = await handle.writev(buffers, position);
        let left = bytesWritten;
        for (const buffer of buffers) {
          const part = left >= buffer.length ? buffer : buffer.subarray(0, left);
          left -= part.length;
          if (part.length > 0) input.onDurable(part);
        }
        position += bytesWritten;
        if (bytesWritten !== buffers.reduce((n, b) => n + b.length, 0)) throw new Error("short write");
      };
      try {
        for await (const chunk of input.source as AsyncIterable<Buffer>) {
          batch.push(chunk);
          batchBytes += chunk.length;
          if (batchBytes >= WRITE_BATCH_BYTES) await flush();
        }
      } catch (error) {
        failure = error instanceof DepotError ? error : (error as Error);
      }
      await flush();
      await handle.sync().catch((error: unknown) => {
        // Nothing this request wrote is known to be on the disk: none of it is acknowledged (the next append
        // truncates it away).
        position = input.offset;
        throw error;
      });
    } catch (error) {
      failure ??= mapFsError(error);
    } finally {
      await handle.close().catch(() => {});
    }
    return { offset: position, backend: input.backend, ...(failure === undefined ? {} : { error: failure }) };
  }

  async readKept(id: string, _backend: BackendState, start: number, end: number): Promise<Readable | null> {
    if (end <= start) return Readable.from([]);
    const handle = await open(await this.pathOf(id), "r");
    return handle.createReadStream({ start, end: end - 1 });
  }

  async finish(input: { id: string; key: string; length: number }): Promise<void> {
    const temp = await this.pathOf(input.id);
    const root = await this.driver.rootPath();
    const kept = await stat(temp).catch(() => undefined);
    if (!kept) {
      // Finished before (a retried completion): the object must be in place with the upload's length.
      const placed = await stat(await this.driver.checkedPath(input.key)).catch(() => undefined);
      if (placed?.isFile() && placed.size === input.length) return;
      throw new DepotError("internal", "the upload's bytes are missing");
    }
    if (kept.size !== input.length) throw new DepotError("internal", "the upload's file does not have its length");
    await fsyncPath(temp);
    await mkdir(dirname(join(root, input.key)), { recursive: true });
    const target = await this.driver.checkedPath(input.key);
    await link(temp, target).catch((error) => {
      throw mapFsError(error);
    });
    await unlink(temp);
    await fsyncPath(dirname(target));
  }

  async discard(id: string): Promise<void> {
    await rm(await this.pathOf(id), { force: true });
  }
}
