import type { IncomingMessage } from "node:http";
import { PassThrough, type Readable } from "node:stream";
import { DepotError } from "@depot/contract";
import busboy from "busboy";

export const clientClosed = () => new DepotError("client_closed", "the client disconnected before the upload ended");

/**
 * The upload's bytes as a stream the handler may destroy without destroying the socket, so a refusal
 * can still be answered. Raw bodies pass straight through; a multipart body yields its one file part.
 */
export function uploadBody(req: IncomingMessage): { source: Promise<Readable>; finished: Promise<void> } {
  const contentType = req.headers["content-type"] ?? "";
  if (!contentType.toLowerCase().startsWith("multipart/form-data")) {
    const source = new PassThrough();
    // The driver's pipeline reports errors once attached; one that comes earlier must not crash the process.
    source.on("error", () => {});
    req.once("close", () => {
      if (!req.complete) source.destroy(clientClosed());
    });
    req.pipe(source);
    return { source: Promise.resolve(source), finished: Promise.resolve() };
  }

  let parser: busboy.Busboy;
  try {
    parser = busboy({ headers: req.headers, limits: { files: 1, fields: 20, fieldSize: 4096, parts: 40 } });
  } catch {
    const refused = Promise.reject(new DepotError("bad_request", "malformed multipart body: no boundary"));
    refused.catch(() => {});
    return { source: refused, finished: refused };
  }
  let extraFiles = false;
  let sawFile = false;
  const source = new Promise<Readable>((resolve, reject) => {
    parser.on("file", (_field, stream) => {
      sawFile = true;
      resolve(stream);
    });
    parser.on("filesLimit", () => {
      extraFiles = true;
    });
    parser.on("error", () => reject(new DepotError("bad_request", "malformed multipart body")));
    parser.on("close", () => {
      if (!sawFile) reject(new DepotError("bad_request", "multipart body has no file part"));
    });
  });
  const finished = new Promise<void>((resolve, reject) => {
    parser.on("close", () =>
      extraFiles ? reject(new DepotError("bad_request", "multipart body has more than one file part")) : resolve(),
    );
    parser.on("error", () => reject(new DepotError("bad_request", "malformed multipart body")));
    req.once("close", () => {
      if (!req.complete) reject(clientClosed());
    });
  });
  source.catch(() => {});
  finished.catch(() => {});
  req.once("close", () => {
    if (!req.complete) parser.destroy(clientClosed());
  });
  req.pipe(parser);
  return { source, finished };
}
