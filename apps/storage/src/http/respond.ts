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
  // A refusal sent before the request body was read ends the connection; the rest of the body is discarded, not read.
  if (!res.req.complete) {
    headers.connection = "close";
    lingerBeforeClosing(res);
  }
  res.writeHead(status, headers);
  res.end(payload);
}

/**
 * Closes the way nginx's lingering close does: after the answer, half-close and discard what the client still
 * sends for a moment. Node's own close destroys the socket with unread bytes in it, the kernel answers them with a
 * reset, and a client still sending (the web tier streaming an upload) may lose the answer: it would report a
 * broken connection instead of, say, 507 disk full.
 */
function lingerBeforeClosing(res: ServerResponse, lingerMs = 2_000): void {
  const req = res.req;
  const socket = req.socket;
  req.unpipe();
  req.resume();
  // Node calls destroySoon() once a `Connection: close` answer is written.
  socket.destroySoon = () => {
    socket.end();
    setTimeout(() => socket.destroy(), lingerMs).unref();
  };
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
