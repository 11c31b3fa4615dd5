import { DepotError } from "./errors";

export const TUS_VERSION = "1.0.0";

/** Upload-Metadata: `key base64,key base64`; kept in the database only, never echoed into headers. */
export function parseUploadMetadata(value: string | undefined): Record<string, string> {
  const metadata: Record<string, string> = {};
  if (!value) return metadata;
  if (value.length > 4096) throw new DepotError("invalid_metadata", "Upload-Metadata is too long");
  for (const pair of value.split(",")) {
    const [key, encoded = "", ...rest] = pair.trim().split(" ");
    if (!key || rest.length > 0 || !/^[A-Za-z0-9_.-]{1,64}$/.test(key) || key in metadata) {
      throw new DepotError("invalid_metadata", "Upload-Metadata is malformed");
    }
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(encoded) || encoded.length % 4 !== 0) {
      throw new DepotError("invalid_metadata", `Upload-Metadata value for ${key} is not base64`);
    }
    const decoded = Buffer.from(encoded, "base64").toString("utf8");
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what is refused
    if (decoded.length > 1024 || /[\u0000-\u001f\u007f]/.test(decoded)) {
      throw new DepotError(
        "invalid_metadata",
        `Upload-Metadata value for ${key} is too long or has control characters`,
      );
    }
    metadata[key] = decoded;
  }
  return metadata;
}
