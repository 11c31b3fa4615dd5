import { DepotError } from "@depot/contract";

export const MAX_DISPLAY_NAME = 200;
const RESERVED = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])$/i;

/**
 * A file name safe to display and to put in Content-Disposition: no folders, control or bidi
 * characters, no leading dots, not a reserved device name, at most MAX_DISPLAY_NAME characters.
 * It is only ever shown; storage keys never contain it.
 */
export function sanitizeDisplayName(raw: string): string {
  const base = raw.split(/[\\/]/).pop() ?? "";
  const cleaned = base
    .normalize("NFC")
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is removed
    .replace(/[\u0000-\u001f\u007f-\u009f]/g, "")
    .replace(/[\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g, "")
    .replace(/[<>:"|?*]/g, "_")
    .replace(/^[.\s]+/, "")
    .replace(/[.\s]+$/, "")
    .trim();
  const stem = cleaned.split(".")[0] ?? "";
  const safe = RESERVED.test(stem) ? `_${cleaned}` : cleaned;
  if (safe.length <= MAX_DISPLAY_NAME) return safe || "unnamed";
  const dot = safe.lastIndexOf(".");
  const extension = dot > 0 && safe.length - dot <= 12 ? safe.slice(dot) : "";
  return safe.slice(0, MAX_DISPLAY_NAME - extension.length) + extension;
}

export function extensionOf(name: string): string {
  const dot = name.lastIndexOf(".");
  return dot > 0 ? name.slice(dot + 1).toLowerCase() : "";
}

export function requireAllowedExtension(name: string, allowed: string[]): void {
  if (!allowed.includes(extensionOf(name))) {
    throw new DepotError(
      "unsupported_type",
      `files of this type are not accepted; allowed extensions: ${allowed.map((e) => `.${e}`).join(", ")}`,
    );
  }
}

/** RFC 6266 / 5987: an ASCII fallback plus the exact name in UTF-8. */
export function contentDisposition(name: string): string {
  const fallback = name.replace(/[^\x20-\x7e]/g, "_").replace(/["\\]/g, "_");
  const encoded = encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename="${fallback}"; filename*=UTF-8''${encoded}`;
}
