import { DepotError } from "@depot/contract";
import type { DisksConfig } from "./config";
import type { StorageDriver } from "./driver";
import { LocalDriver } from "./local";
import { S3Driver } from "./s3";

export interface Disks {
  names(): string[];
  /** The named disk; an unknown name is an error, never a fallback to the default. */
  get(name: string | null | undefined): { name: string; driver: StorageDriver };
}

export function createDisks(config: DisksConfig, defaultDisk: string): Disks {
  const drivers = new Map<string, StorageDriver>();
  for (const [name, disk] of Object.entries(config)) {
    drivers.set(name, disk.driver === "local" ? new LocalDriver(disk.root) : new S3Driver(disk));
  }
  return {
    names: () => [...drivers.keys()],
    get(name) {
      const wanted = name ?? defaultDisk;
      const driver = drivers.get(wanted);
      if (!driver) throw new DepotError("unknown_disk", `unknown storage disk "${String(wanted).slice(0, 40)}"`);
      return { name: wanted, driver };
    },
  };
}
