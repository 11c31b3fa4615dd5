import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { HEADER } from "./headers";

const digest = (value: string) => createHash("sha256").update(value).digest();

/**
 * Constant-time comparison of the X-API-Key header; hashing first hides the key's length too. With
 * `allowBearer`, `Authorization: Bearer <key>` is accepted as well (what Prometheus sends for its scrapes).
 */
export function createApiKeyCheck(
  apiKey: string,
  options: { allowBearer?: boolean } = {},
): (req: IncomingMessage) => boolean {
  const expected = digest(apiKey);
  return (req) => {
    let given = req.headers[HEADER.apiKey];
    if (given === undefined && options.allowBearer) {
      const authorization = req.headers.authorization;
      if (typeof authorization === "string" && /^bearer /i.test(authorization)) given = authorization.slice(7).trim();
    }
    if (typeof given !== "string" || given.length === 0) return false;
    return timingSafeEqual(digest(given), expected);
  };
}
