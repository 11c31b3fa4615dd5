import type { Readable } from "node:stream";
import { DepotError } from "@depot/contract";
import busboy from "busboy";

export interface FilePart {
  fields: Record<string, string>;
  stream: Readable;
  filename: string;
  mimeType: string;
}

/**
 * Streams a multipart body and hands its one file part to `onFile` as soon as it starts; fields must
 * come before the file. Resolves with onFile's result once the whole body was read; a second file part,
 * a missing file or a broken body is refused (after `undo` removes what onFile kept).
 */
export function receiveSingleFile<T>(
  body: Readable,
  contentType: string | null,
  onFile: (part: FilePart) => Promise<T>,
  undo: (result: T) => Promise<void>,
): Promise<T> {
  if (!contentType?.toLowerCase().startsWith("multipart/form-data")) {
    return Promise.reject(new DepotError("bad_request", "send the file as multipart/form-data"));
  }
  let parser: busboy.Busboy;
  try {
    parser = busboy({
      headers: { "content-type": contentType },
      // Browsers send file names as raw UTF-8; busboy's default (latin1) would garble every non-ASCII name.
      defParamCharset: "utf8",
      limits: { files: 1, fields: 10, parts: 12, fieldSize: 1024, fieldNameSize: 100 },
    });
  } catch {
    return Promise.reject(new DepotError("bad_request", "malformed multipart body: no boundary"));
  }
  return new Promise<T>((resolve, reject) => {
    const fields: Record<string, string> = {};
    let pending: Promise<T> | undefined;
    let extraFile = false;
    let settled = false;
    const fail = (error: unknown, undone = false) => {
      if (settled) return;
      settled = true;
      reject(error);
      parser.destroy();
      body.destroy();
      // The body broke after onFile kept the file (e.g. the closing boundary never came): a refused request
      // keeps nothing, so undo it once onFile is done.
      if (pending && !undone) pending.then((result) => undo(result)).catch(() => {});
    };
    parser.on("field", (name, value, info) => {
      if (info.valueTruncated || info.nameTruncated)
        fail(new DepotError("bad_request", `form field ${name.slice(0, 50)} is too long`));
      else fields[name] = value;
    });
    parser.on("file", (_name, stream, info) => {
      // The consumer's pipeline reports this stream's errors; a late one must not crash the process.
      stream.on("error", () => {});
      pending = onFile({ fields: { ...fields }, stream, filename: info.filename ?? "", mimeType: info.mimeType });
      pending.catch((error) => {
        stream.resume();
        fail(error);
      });
    });
    parser.on("filesLimit", () => {
      extraFile = true;
    });
    parser.on("fieldsLimit", () => fail(new DepotError("bad_request", "too many form fields")));
    parser.on("partsLimit", () => fail(new DepotError("bad_request", "too many form parts")));
    parser.on("error", () => fail(new DepotError("bad_request", "malformed multipart body")));
    parser.on("close", () => {
      if (settled) return;
      if (!pending)
        return fail(new DepotError("bad_request", "no file part: send cohortId and kind fields, then the file"));
      pending.then(async (result) => {
        if (settled) return;
        if (extraFile) {
          await undo(result).catch(() => {});
          return fail(new DepotError("bad_request", "send one file per request"), true);
        }
        settled = true;
        resolve(result);
      }, fail);
    });
    body.on("error", () => fail(new DepotError("client_closed", "the upload was interrupted")));
    body.pipe(parser);
  });
}
