import { isAbsolute } from "node:path";
import { z } from "zod";

const localDisk = z.object({ driver: z.literal("local"), root: z.string().min(1) });
const s3Disk = z.object({
  driver: z.literal("s3"),
  bucket: z.string().min(1),
  endpoint: z.string().url().optional(),
  region: z.string().default("us-east-1"),
  access_key: z.string().min(1),
  secret_key: z.string().min(1),
  force_path_style: z.boolean().default(true),
  prefix: z.string().default(""),
});
const diskConfig = z.discriminatedUnion("driver", [localDisk, s3Disk]);
const storageConfig = z.object({ disks: z.record(z.string().regex(/^[a-z0-9_-]{1,40}$/), diskConfig) });

export type LocalDiskConfig = z.infer<typeof localDisk>;
export type S3DiskConfig = z.infer<typeof s3Disk>;
export type DiskConfig = z.infer<typeof diskConfig>;
export type DisksConfig = Record<string, DiskConfig>;

/** STORAGE_CONFIG as in the original system; NAS_WORKSPACE_PATH alone makes one local disk. */
export function parseDisksConfig(input: {
  storageConfig?: string;
  nasWorkspacePath?: string;
  defaultDisk: string;
}): DisksConfig {
  let disks: DisksConfig = {};
  if (input.storageConfig) {
    let json: unknown;
    try {
      json = JSON.parse(input.storageConfig);
    } catch {
      throw new Error("STORAGE_CONFIG is not valid JSON");
    }
    const parsed = storageConfig.safeParse(json);
    if (!parsed.success) {
      throw new Error(
        `STORAGE_CONFIG is invalid: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
      );
    }
    disks = parsed.data.disks;
  }
  if (input.nasWorkspacePath && !disks[input.defaultDisk]) {
    disks[input.defaultDisk] = { driver: "local", root: input.nasWorkspacePath };
  }
  for (const [name, disk] of Object.entries(disks)) {
    if (disk.driver === "local" && !isAbsolute(disk.root))
      throw new Error(`disk "${name}": root must be an absolute path`);
  }
  if (Object.keys(disks).length === 0)
    throw new Error("no storage disk configured: set NAS_WORKSPACE_PATH or STORAGE_CONFIG");
  return disks;
}
