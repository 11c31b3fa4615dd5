import { createHash } from "node:crypto";
import { createWriteStream, existsSync, renameSync, statSync } from "node:fs";
import { basename, resolve } from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as NodeReadableStream } from "node:stream/web";
import { errorFrom, fileRecord, request } from "./api";
import { CliError, type Credentials, EXIT } from "./config";
import { hashRange } from "./hashing";
import { progress } from "./progress";

export interface DownloadResult {
  id: string;
  path: string;
  size: number;
  sha256: string;
  resumedFrom: number;
  verified: true;
}

/** A display name as a local file name: no folders, nothing hidden, never empty. */
const safeName = (name: string) =>
  basename(name)
    .replace(/^\.+/, "")
    .replace(/\p{Cc}/gu, "_") || "download";

/**
 * Downloads a stored file to PATH (default: its name in the current folder) through PATH.depot-part:
 * an interrupted download resumes with a Range request from the part's size. The whole result is hashed
 * (the part already there, then the new bytes as they arrive) and must equal Depot's sha256 and size
 * before it is renamed into place.
 */
export async function downloadFile(
  creds: Credentials,
  id: string,
  output: string | undefined,
  options: { force: boolean; signal: AbortSignal },
): Promise<DownloadResult> {
  const record = await fileRecord(creds, id);
  if (record.status !== "stored" || record.size === null || !record.sha256) {
    throw new CliError("conflict", `file ${id} is ${record.status} on Depot, not available for download`);
  }
  const target = resolve(output ?? safeName(record.name));
  if (existsSync(target) && !options.force) {
    throw new CliError("exists", `${target} already exists (use --force to replace it)`, EXIT.usage);
  }
  const part = `${target}.depot-part`;
  let have = existsSync(part) ? statSync(part).size : 0;
  if (have > record.size) have = 0;
  const hash = createHash("sha256");
  const headers: Record<string, string> = have > 0 ? { range: `bytes=${have}-` } : {};
  const res =
    have === record.size
      ? null
      : await request(creds, `/api/files/${id}/download`, { headers, signal: options.signal });
  if (res && res.status !== 200 && res.status !== 206) throw await errorFrom(res);
  // A 200 to a Range request means the server sent everything: start the part again.
  const resumedFrom = res?.status === 206 || !res ? have : 0;
  if (resumedFrom > 0) await hashRange(hash, part, 0, resumedFrom);
  const bar = progress(basename(target), record.size, resumedFrom);
  if (res?.body) {
    let done = resumedFrom;
    const tap = new Transform({
      transform(chunk: Buffer, _e, callback) {
        hash.update(chunk);
        done += chunk.length;
        bar.update(done);
        callback(null, chunk);
      },
    });
    try {
      await pipeline(
        Readable.fromWeb(res.body as unknown as NodeReadableStream<Uint8Array>),
        tap,
        createWriteStream(part, { flags: resumedFrom > 0 ? "a" : "w", mode: 0o600 }),
        { signal: options.signal },
      );
    } catch (error) {
      bar.stop();
      throw new CliError(
        "interrupted",
        `download of ${id} stopped after ${done} bytes (${(error as Error).message}); run the same command again to resume`,
      );
    }
  }
  bar.stop();
  const sha256 = hash.digest("hex");
  const size = statSync(part).size;
  const served = res?.headers.get("x-depot-sha256");
  if (size !== record.size || sha256 !== record.sha256 || (served && served !== sha256)) {
    throw new CliError(
      "mismatch",
      `download of ${id}: got ${size} bytes with sha256 ${sha256}, Depot's record is ${record.size} bytes with ${record.sha256}; the partial file ${part} was kept, remove it to start over`,
      EXIT.mismatch,
    );
  }
  renameSync(part, target);
  return { id, path: target, size, sha256, resumedFrom, verified: true };
}
