import { defaultDiskName, internalApiKeySchema } from "@depot/contract";
import { z } from "zod";
import { type DisksConfig, parseDisksConfig } from "./drivers/config";

const GiB = 1024 ** 3;

const schema = z.object({
  SERVER_ROLE: z
    .literal("services", { error: "SERVER_ROLE must be 'services' for the storage service" })
    .default("services"),
  HOST: z.string().default("127.0.0.1"),
  PORT: z.coerce.number().int().min(0).max(65535).default(8001),
  INTERNAL_API_KEY: internalApiKeySchema("services"),
  DATABASE_URL: z.string({ error: "DATABASE_URL required: the storage service writes the audit trail" }).min(1),
  MAX_UPLOAD_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(5 * GiB),
  IDLE_TIMEOUT_SECONDS: z.coerce.number().int().positive().default(120),
  TUS_EXPIRY_HOURS: z.coerce.number().positive().default(24),
  CLEANUP_INTERVAL_MINUTES: z.coerce.number().min(0).default(60),
  CLEANUP_HOURS: z.coerce.number().min(0).default(24),
  INTEGRITY_INTERVAL_MINUTES: z.coerce.number().min(0).default(0),
  AUDIT_VERIFY_INTERVAL_MINUTES: z.coerce.number().min(0).default(15),
  /** The longest a replica waits between looks at the schedule (it looks 4 times per interval when that is shorter). */
  SCHEDULE_TICK_SECONDS: z.coerce.number().positive().default(30),
  HEARTBEAT_INTERVAL_SECONDS: z.coerce.number().positive().default(10),
  /** This replica's name in heartbeats and scheduled runs; default `${hostname}:${PORT}`. */
  REPLICA_ID: z.string().min(1).max(200).optional(),
  AUDIT_CHECKPOINT_KEY: z.string().min(16, { error: "AUDIT_CHECKPOINT_KEY must be at least 16 characters" }).optional(),
});

export interface StorageEnv {
  host: string;
  port: number;
  apiKey: string;
  databaseUrl: string;
  disks: DisksConfig;
  defaultDisk: string;
  maxUploadBytes: number;
  idleTimeoutMs: number;
  tusExpiryMs: number;
  /** 0 turns a schedule off. */
  cleanupIntervalMs: number;
  cleanupHours: number;
  integrityIntervalMs: number;
  /** How often the audit chain is verified from its last checkpoint (0: never). */
  auditVerifyIntervalMs: number;
  /** The longest wait between a replica's looks at whether a scheduled job is due. */
  scheduleTickMs: number;
  heartbeatIntervalMs: number;
  /** REPLICA_ID when set; otherwise main.ts names the replica `${hostname}:${port}` once it listens. */
  replicaId?: string;
  /** The secret that signs audit checkpoints: AUDIT_CHECKPOINT_KEY, else INTERNAL_API_KEY. */
  checkpointSecret: string;
}

export class EnvError extends Error {}

/** The disks and the default one, from STORAGE_CONFIG / NAS_WORKSPACE_PATH / WORKSPACE_STORAGE_DISK. */
export function parseDiskSettings(
  source: Record<string, string | undefined>,
  fallbackRoot?: string,
): { disks: DisksConfig; defaultDisk: string } {
  const defaultDisk = defaultDiskName(source);
  let disks: DisksConfig;
  try {
    disks = parseDisksConfig({
      storageConfig: source.STORAGE_CONFIG,
      nasWorkspacePath: source.NAS_WORKSPACE_PATH || (source.STORAGE_CONFIG ? undefined : fallbackRoot),
      defaultDisk,
    });
  } catch (error) {
    throw new EnvError((error as Error).message);
  }
  if (!disks[defaultDisk]) {
    throw new EnvError(`WORKSPACE_STORAGE_DISK names "${defaultDisk}", which STORAGE_CONFIG does not configure`);
  }
  return { disks, defaultDisk };
}

/** Parses the storage service's configuration once; throws EnvError with every problem named. */
export function parseStorageEnv(source: Record<string, string | undefined>): StorageEnv {
  const parsed = schema.safeParse(source);
  if (!parsed.success) throw new EnvError(parsed.error.issues.map((i) => i.message).join("\n"));
  const e = parsed.data;
  const { disks, defaultDisk } = parseDiskSettings(source);
  return {
    host: e.HOST,
    port: e.PORT,
    apiKey: e.INTERNAL_API_KEY,
    databaseUrl: e.DATABASE_URL,
    disks,
    defaultDisk,
    maxUploadBytes: e.MAX_UPLOAD_BYTES,
    idleTimeoutMs: e.IDLE_TIMEOUT_SECONDS * 1000,
    tusExpiryMs: e.TUS_EXPIRY_HOURS * 3600_000,
    cleanupIntervalMs: e.CLEANUP_INTERVAL_MINUTES * 60_000,
    cleanupHours: e.CLEANUP_HOURS,
    integrityIntervalMs: e.INTEGRITY_INTERVAL_MINUTES * 60_000,
    auditVerifyIntervalMs: e.AUDIT_VERIFY_INTERVAL_MINUTES * 60_000,
    scheduleTickMs: e.SCHEDULE_TICK_SECONDS * 1000,
    heartbeatIntervalMs: e.HEARTBEAT_INTERVAL_SECONDS * 1000,
    replicaId: e.REPLICA_ID,
    checkpointSecret: e.AUDIT_CHECKPOINT_KEY ?? e.INTERNAL_API_KEY,
  };
}
