import { z } from "zod";

/**
 * The internal API key both tiers are configured with (INTERNAL_API_KEY), one rule for both: storage refuses a key
 * shorter than 16 characters, so the web refuses it too rather than start and fail every call with 401.
 */
export function internalApiKeySchema(role: "web" | "services") {
  const required = `INTERNAL_API_KEY required for ${role} server role`;
  return z
    .string({ error: required })
    .refine((key) => key.length > 0, { error: required, abort: true }) // an empty key is a missing one: one message
    .refine((key) => key.length >= 16, { error: "INTERNAL_API_KEY must be at least 16 characters" });
}

/** The disk new files go to when WORKSPACE_STORAGE_DISK does not name one. */
export const DEFAULT_DISK_NAME = "workspace";

/** The disk named by WORKSPACE_STORAGE_DISK; unset or empty means the default, on both tiers alike. */
export function defaultDiskName(source: Record<string, string | undefined>): string {
  return source.WORKSPACE_STORAGE_DISK?.trim() || DEFAULT_DISK_NAME;
}
