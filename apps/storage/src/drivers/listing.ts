import type { DiskUsage, ObjectInfo, StorageDriver } from "./driver";

const PAGE = 1000;

/** Every object under `prefix`, page by page, in key order. */
export async function* eachObject(driver: Pick<StorageDriver, "list">, prefix = ""): AsyncGenerator<ObjectInfo> {
  let cursor: string | undefined;
  do {
    const page = await driver.list(prefix, { limit: PAGE, cursor });
    yield* page.items;
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
}

/** Bytes and files per top-level prefix (the cohort id), counted from a listing of the whole disk. */
export async function usageByPrefix(driver: Pick<StorageDriver, "list">): Promise<DiskUsage["byPrefix"]> {
  const byPrefix: DiskUsage["byPrefix"] = {};
  for await (const item of eachObject(driver)) {
    const top = item.key.split("/")[0] ?? item.key;
    const entry = byPrefix[top] ?? { bytes: 0, files: 0 };
    entry.bytes += item.size;
    entry.files += 1;
    byPrefix[top] = entry;
  }
  return byPrefix;
}

/** Removes every object under `prefix`; returns how many went. */
export async function deleteByPrefix(driver: Pick<StorageDriver, "list" | "delete">, prefix: string): Promise<number> {
  const keys: string[] = [];
  for await (const item of eachObject(driver, prefix)) keys.push(item.key);
  let deleted = 0;
  for (const key of keys) if (await driver.delete(key)) deleted++;
  return deleted;
}
