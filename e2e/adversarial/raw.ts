import { connect } from "node:net";

export interface RawResponse {
  /** Status of the first response on the connection; null when none came. */
  status: number | null;
  headers: Record<string, string>;
  body: string;
  /** Everything the server sent, for leak checks (several pipelined responses included). */
  raw: string;
  /** The server closed the connection (before our timeout). */
  closed: boolean;
  /** Our own deadline passed with the connection still open. */
  timedOut: boolean;
  /** Milliseconds from the first byte written until the answer was complete or the connection ended. */
  ms: number;
  error?: string;
}

interface Parsed {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

function dechunk(data: Buffer): Buffer | null {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = data.indexOf("\r\n", at);
    if (lineEnd < 0) return null;
    const size = Number.parseInt(data.subarray(at, lineEnd).toString("latin1").split(";")[0] ?? "", 16);
    if (Number.isNaN(size)) return Buffer.concat(parts);
    if (size === 0) return data.indexOf("\r\n\r\n", lineEnd) >= 0 ? Buffer.concat(parts) : null;
    if (data.length < lineEnd + 2 + size + 2) return null;
    parts.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
}

/** The first complete HTTP response in `data`, or null while it is still incomplete. */
function parseFirst(data: Buffer, headOnly: boolean, closed: boolean): Parsed | null {
  let start = 0;
  // Skip interim 1xx answers (100 Continue).
  for (;;) {
    const end = data.indexOf("\r\n\r\n", start);
    if (end < 0) return null;
    const head = data.subarray(start, end).toString("latin1");
    const [statusLine = "", ...lines] = head.split("\r\n");
    const status = Number(statusLine.split(" ")[1]);
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(":");
      if (colon > 0) {
        const name = line.slice(0, colon).trim().toLowerCase();
        const value = line.slice(colon + 1).trim();
        headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
      }
    }
    const rest = data.subarray(end + 4);
    if (status >= 100 && status < 200) {
      start = end + 4;
      continue;
    }
    if (headOnly || status === 204 || status === 304) return { status, headers, body: Buffer.alloc(0) };
    if (headers["transfer-encoding"]?.toLowerCase().includes("chunked")) {
      const body = dechunk(rest);
      return body ? { status, headers, body } : closed ? { status, headers, body: rest } : null;
    }
    if (headers["content-length"] !== undefined) {
      const length = Number(headers["content-length"]);
      if (rest.length >= length) return { status, headers, body: rest.subarray(0, length) };
      return closed ? { status, headers, body: rest } : null;
    }
    return closed ? { status, headers, body: rest } : null;
  }
}

/**
 * Writes exactly these bytes to a fresh TCP connection (the server's host and port come from `url`) and
 * reads the first answer. With `waitForClose` it keeps the connection until the server ends it (or our
 * deadline passes), which is how a test sees that a stalled request is cut off.
 */
export function rawRequest(
  url: string,
  payload: string | Buffer | (string | Buffer)[],
  options: { timeoutMs?: number; waitForClose?: boolean; headOnly?: boolean; endInput?: boolean } = {},
): Promise<RawResponse> {
  const { hostname, port } = new URL(url);
  const timeoutMs = options.timeoutMs ?? 10_000;
  const pieces = (Array.isArray(payload) ? payload : [payload]).map((p) =>
    typeof p === "string" ? Buffer.from(p, "latin1") : p,
  );
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const started = Date.now();
    const socket = connect({ host: hostname === "localhost" ? "127.0.0.1" : hostname, port: Number(port) });
    let done = false;
    let closed = false;
    let error: string | undefined;
    const finish = (timedOut: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const data = Buffer.concat(chunks);
      const parsed = parseFirst(data, options.headOnly ?? false, true);
      socket.destroy();
      resolve({
        status: parsed?.status ?? null,
        headers: parsed?.headers ?? {},
        body: parsed?.body.toString("utf8") ?? "",
        raw: data.toString("utf8"),
        closed,
        timedOut,
        ms: Date.now() - started,
        ...(error ? { error } : {}),
      });
    };
    const timer = setTimeout(() => finish(true), timeoutMs);
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      if (!options.waitForClose && parseFirst(Buffer.concat(chunks), options.headOnly ?? false, false)) finish(false);
    });
    socket.on("error", (e: NodeJS.ErrnoException) => {
      error = e.code ?? e.message;
    });
    socket.on("close", () => {
      closed = true;
      finish(false);
    });
    socket.on("connect", () => {
      for (const piece of pieces) socket.write(piece);
      if (options.endInput) socket.end();
    });
  });
}

/** A request head as bytes: request line, headers (kept in order, duplicates allowed), blank line. */
export function head(requestLine: string, headers: [string, string][]): string {
  return `${requestLine}\r\n${headers.map(([k, v]) => `${k}: ${v}`).join("\r\n")}\r\n\r\n`;
}
