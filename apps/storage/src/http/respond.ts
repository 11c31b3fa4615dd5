import type { ServerResponse } from "node:http";
import { DepotError } from "@depot/contract";

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(payload),
  });
  res.end(payload);
}

/** Any error becomes the one error shape; unexpected ones say nothing about internals. */
export function toDepotError(error: unknown): DepotError {
  if (error instanceof DepotError) return error;
  return new DepotError("internal", "the storage service failed to complete the request");
}

export function sendError(res: ServerResponse, error: unknown): void {
  const depotError = toDepotError(error);
  sendJson(res, depotError.status, depotError.toBody());
}
