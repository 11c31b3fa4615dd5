import type { ServerResponse } from "node:http";
import { DepotError } from "@depot/contract";

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const payload = JSON.stringify(body);
  const headers: Record<string, string | number> = {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(payload),
  };
  // A refusal sent before the request body was read: close rather than read the rest of it.
  if (!res.req.complete) headers.connection = "close";
  res.writeHead(status, headers);
  res.end(payload, () => {
    if (!res.req.complete) res.req.socket?.destroySoon();
  });
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
