import type { BlockList } from "node:net";
import { defaultDiskName, internalApiKeySchema } from "@depot/contract";
import { z } from "zod";
import { parseTrustedProxies } from "./client-address";

const MB = 1000 * 1000;
const GiB = 1024 ** 3;

const schema = z.object({
  SERVER_ROLE: z.literal("web", { error: "SERVER_ROLE must be 'web' for the web server" }).default("web"),
  HOST: z.string().default("127.0.0.1"),
  PORT: z.coerce.number().int().min(0).max(65535).default(8000),
  INTERNAL_API_KEY: internalApiKeySchema("web"),
  SERVICES_URL: z
    .string({ error: "SERVICES_URL required for web server role (the storage service, e.g. http://127.0.0.1:8001)" })
    .url({ error: "SERVICES_URL must be a URL such as http://127.0.0.1:8001" }),
  DATABASE_URL: z.string({ error: "DATABASE_URL required for web server role" }).min(1),
  AUTH_SECRET: z
    .string({ error: "AUTH_SECRET required for web server role (32 or more random characters)" })
    .min(32, { error: "AUTH_SECRET must be at least 32 characters" }),
  PUBLIC_URL: z.string().url().optional(),
  MAX_UPLOAD_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(5 * GiB),
  SMALL_UPLOAD_MAX_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(10 * MB),
  SESSION_IDLE_MINUTES: z.coerce.number().int().positive().default(60),
  SESSION_MAX_HOURS: z.coerce.number().positive().default(12),
  ALLOWED_EXTENSIONS: z.string().default("csv,tsv,txt,sas7bdat,dta,sav,parquet,zip"),
  IDLE_TIMEOUT_SECONDS: z.coerce.number().int().positive().default(120),
  PRECHECK_RETENTION_HOURS: z.coerce.number().positive().default(72),
  TRUSTED_PROXIES: z.string().default(""),
});

export interface WebEnv {
  host: string;
  port: number;
  apiKey: string;
  servicesUrl: string;
  /** The disk new files go to (WORKSPACE_STORAGE_DISK, the contract's default otherwise). */
  defaultDisk: string;
  databaseUrl: string;
  authSecret: string;
  publicUrl: string;
  maxUploadBytes: number;
  smallUploadMaxBytes: number;
  sessionIdleMinutes: number;
  /** Absolute lifetime of a session from its sign-in, however often activity renews it. */
  sessionMaxMs: number;
  allowedExtensions: string[];
  idleTimeoutMs: number;
  precheckRetentionMs: number;
  /** Reverse proxies whose X-Forwarded-For names the client; none by default. */
  trustedProxies: BlockList;
}

export class EnvError extends Error {}

/** The web tier's whole configuration, parsed once; every problem is named, one per line. */
export function parseWebEnv(source: Record<string, string | undefined>): WebEnv {
  const parsed = schema.safeParse(source);
  if (!parsed.success) throw new EnvError([...new Set(parsed.error.issues.map((i) => i.message))].join("\n"));
  const e = parsed.data;
  const trustedProxies = parseTrustedProxies(e.TRUSTED_PROXIES);
  if (typeof trustedProxies === "string") throw new EnvError(trustedProxies);
  return {
    host: e.HOST,
    port: e.PORT,
    apiKey: e.INTERNAL_API_KEY,
    servicesUrl: e.SERVICES_URL.replace(/\/+$/, ""),
    defaultDisk: defaultDiskName(source),
    databaseUrl: e.DATABASE_URL,
    authSecret: e.AUTH_SECRET,
    publicUrl: (e.PUBLIC_URL ?? `http://localhost:${e.PORT}`).replace(/\/+$/, ""),
    maxUploadBytes: e.MAX_UPLOAD_BYTES,
    smallUploadMaxBytes: e.SMALL_UPLOAD_MAX_BYTES,
    sessionIdleMinutes: e.SESSION_IDLE_MINUTES,
    sessionMaxMs: e.SESSION_MAX_HOURS * 3600_000,
    allowedExtensions: e.ALLOWED_EXTENSIONS.split(",")
      .map((x) => x.trim().toLowerCase().replace(/^\./, ""))
      .filter(Boolean),
    idleTimeoutMs: e.IDLE_TIMEOUT_SECONDS * 1000,
    precheckRetentionMs: e.PRECHECK_RETENTION_HOURS * 3600_000,
    trustedProxies,
  };
}

let cached: WebEnv | undefined;

/** Parsed on first use, not at import, so `next build` needs no secrets. */
export function getEnv(): WebEnv {
  cached ??= parseWebEnv(process.env);
  return cached;
}
