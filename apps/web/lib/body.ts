import { DepotError, parseIntegerHeader } from "@depot/contract";
import type { z } from "zod";
import { API_BODY_LIMIT } from "./methods";

/** The most any JSON route reads: decided from Content-Length when sent (also in server.ts), and while reading. */
export const JSON_BODY_LIMIT = API_BODY_LIMIT;

const tooLarge = (limit: number) => new DepotError("too_large", `the request body exceeds ${limit} bytes`);

/** The request body as text, never more than `limit` bytes of it read (413 too_large otherwise). */
export async function readBoundedText(req: Request, limit = JSON_BODY_LIMIT): Promise<string> {
  const declared = parseIntegerHeader(req.headers.get("content-length"), "Content-Length");
  if (declared !== undefined && declared > limit) throw tooLarge(limit);
  if (!req.body) return "";
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      throw tooLarge(limit);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** The JSON body, bounded and validated; a 400 names the first problem (never echoing a value). */
export async function readJson<T extends z.ZodType>(req: Request, schema: T): Promise<z.output<T>> {
  const text = await readBoundedText(req);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new DepotError("bad_request", "send a JSON body");
  }
  // PostgreSQL text cannot hold NUL: refused here, not as a 500 from the database.
  if (text.includes("\\u0000")) throw new DepotError("bad_request", "text must not contain NUL characters");
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? `${issue.path.join(".")}: ` : "";
    throw new DepotError("bad_request", `invalid request: ${where}${issue?.message ?? "invalid body"}`);
  }
  return parsed.data;
}
