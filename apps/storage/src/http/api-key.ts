import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { HEADER } from "@depot/contract";

const digest = (value: string) => createHash("sha256").update(value).digest();

/** Constant-time comparison of the X-API-Key header; hashing first hides the key's length too. */
export function createApiKeyCheck(apiKey: string): (req: IncomingMessage) => boolean {
  const expected = digest(apiKey);
  return (req) => {
    const given = req.headers[HEADER.apiKey];
    if (typeof given !== "string" || given.length === 0) return false;
    return timingSafeEqual(digest(given), expected);
  };
}
