import { createHash } from "node:crypto";
import { createReadStream, statSync } from "node:fs";
import { basename, resolve } from "node:path";
import type { Readable } from "node:stream";
import { type DetailedError, type HttpRequest, type HttpResponse, Upload } from "tus-js-client";
import { authHeaders, fileRecord } from "./api";
import { CliError, type Credentials, EXIT } from "./config";
import { SendingHash } from "./hashing";
import { progress } from "./progress";
import { UploadState } from "./state";

/** Fixed: a server that keeps only whole PATCH bodies makes a killed upload re-send at most one chunk. */
export const CHUNK_SIZE = 8 * 1024 * 1024;

export interface UploadResult {
  file: string;
  id: string;
  name: string;
  size: number;
  sha256: string;
  /** The server's offset this run started from (0 for a new upload). */
  resumedFrom: number;
  /** Bytes this run sent. */
  sent: number;
  verified: true;
}

interface Target {
  cohortId: string;
  cohortName: string;
  kind: "precheck" | "submission";
}

/** Same file (path, size, modification time), same Depot, cohort and kind: the same upload to resume. */
function fingerprint(creds: Credentials, path: string, target: Target) {
  const s = statSync(path);
  const raw = ["v1", creds.url, path, s.size, s.mtimeMs, target.cohortId, target.kind].join("\n");
  return { value: createHash("sha256").update(raw).digest("hex"), size: s.size, mtimeMs: s.mtimeMs };
}

/**
 * One file over tus 1.0 (tus-js-client, 8 MiB PATCHes) to /api/uploads/tus/, resumed from the state file
 * when a previous run left it unfinished. The sha256 is computed from the bytes as they are sent and
 * compared with Depot's record; any difference is an error.
 */
export async function uploadFile(creds: Credentials, file: string, target: Target, signal: AbortSignal) {
  const path = resolve(file);
  let stat: ReturnType<typeof statSync>;
  try {
    stat = statSync(path);
  } catch {
    throw new CliError("not_found", `${file}: no such file`);
  }
  if (!stat.isFile()) throw new CliError("bad_request", `${file}: not a regular file`);
  const print = fingerprint(creds, path, target);
  const hash = new SendingHash(path, stat.size);
  let fileId: string | undefined;
  let serverSha: string | undefined;
  const state = new UploadState(() => fileId);
  const label = basename(path);
  const bar = progress(label, stat.size);
  let resumedFrom = 0;
  let firstSlice: number | undefined;
  let resuming = false;

  const fileReader = {
    async openFile() {
      return {
        size: stat.size,
        async slice(start: number, end: number) {
          if (firstSlice === undefined && resuming && start > 0) {
            bar.note(`${label}: resuming at ${start} of ${stat.size} bytes (Depot already has them)`);
          }
          firstSlice ??= start;
          await hash.catchUp(start);
          const stop = Math.min(end, stat.size);
          const source = stop > start ? createReadStream(path, { start, end: stop - 1 }) : null;
          const tap = hash.tap(start);
          if (source) {
            source.on("error", (e) => tap.destroy(e));
            source.pipe(tap);
          } else tap.end();
          (tap as Readable & { size?: number }).size = stop - start;
          return { value: tap, done: stop >= stat.size };
        },
        close() {},
      };
    },
  };

  const upload = new Upload({ path } as unknown as Buffer, {
    endpoint: `${creds.url}/api/uploads/tus/`,
    chunkSize: CHUNK_SIZE,
    retryDelays: [0, 1000, 3000, 5000, 10000],
    metadata: { cohortId: target.cohortId, kind: target.kind, filename: label },
    headers: authHeaders(creds),
    fingerprint: async () => print.value,
    urlStorage: state,
    fileReader,
    storeFingerprintForResuming: true,
    removeFingerprintOnSuccess: true,
    onAfterResponse: (_req: HttpRequest, res: HttpResponse) => {
      fileId = res.getHeader("X-Depot-File-Id") ?? fileId;
      serverSha = res.getHeader("X-Depot-Sha256") ?? serverSha;
    },
    onProgress: (sent: number) => bar.update(sent),
  });

  const previous = (await upload.findPreviousUploads()) as unknown as { fileId?: string; uploadUrl: string }[];
  const last = previous.at(-1);
  if (last) {
    resuming = true;
    fileId = last.fileId;
    upload.resumeFromPreviousUpload(last as never);
  }

  await new Promise<void>((resolveUpload, reject) => {
    const onAbort = () => {
      void upload
        .abort(false)
        .finally(() =>
          reject(new CliError("interrupted", `${label}: interrupted; run the same command again to resume`)),
        );
    };
    signal.addEventListener("abort", onAbort, { once: true });
    upload.options.onSuccess = () => {
      signal.removeEventListener("abort", onAbort);
      resolveUpload();
    };
    upload.options.onError = (error: Error | DetailedError) => {
      signal.removeEventListener("abort", onAbort);
      reject(tusFailure(label, error));
    };
    upload.start();
  });
  bar.stop();
  if (last && firstSlice !== undefined) resumedFrom = firstSlice;
  else if (last) resumedFrom = stat.size;

  const after = statSync(path);
  if (after.size !== print.size || after.mtimeMs !== print.mtimeMs) {
    throw new CliError("changed", `${label}: the file changed while it was being sent`, EXIT.mismatch);
  }
  const local = await hash.digest();
  if (!fileId) throw new CliError("protocol", `${label}: Depot did not name the stored file (no X-Depot-File-Id)`);
  const record = await fileRecord(creds, fileId);
  const problems: string[] = [];
  if (serverSha && serverSha !== local) problems.push(`Depot computed sha256 ${serverSha}`);
  if (record.sha256 !== local) problems.push(`Depot's record has sha256 ${record.sha256 ?? "none"}`);
  if (record.size !== stat.size)
    problems.push(`Depot's record has ${record.size ?? "no"} bytes, the file ${stat.size}`);
  if (record.status !== "stored") problems.push(`the file is ${record.status} on Depot`);
  if (problems.length) {
    throw new CliError("mismatch", `${label}: local sha256 ${local}, but ${problems.join("; ")}`, EXIT.mismatch);
  }
  return {
    file,
    id: record.id,
    name: record.name,
    size: stat.size,
    sha256: local,
    resumedFrom,
    sent: stat.size - resumedFrom,
    verified: true,
  } satisfies UploadResult;
}

function tusFailure(label: string, error: Error | DetailedError): CliError {
  const res = (error as DetailedError).originalResponse;
  if (res) {
    let message = `HTTP ${res.getStatus()}`;
    let code = `http_${res.getStatus()}`;
    try {
      const body = JSON.parse(res.getBody()) as { error?: { code?: string; message?: string } };
      if (body.error?.message) message = body.error.message;
      if (body.error?.code) code = body.error.code;
    } catch {}
    if (res.getStatus() === 401) return new CliError("unauthorized", `${label}: the token was refused: ${message}`);
    return new CliError(code, `${label}: ${message}`);
  }
  const cause = (error as DetailedError).causingError;
  return new CliError("network", `${label}: ${cause?.message ?? error.message}`);
}
