import { expect, test } from "vitest";
import { parseStorageEnv } from "./env";

const base = { INTERNAL_API_KEY: "k".repeat(32), DATABASE_URL: "postgres://x/y", NAS_WORKSPACE_PATH: "/srv/depot" };

test("refuses to start without an API key", () => {
  expect(() => parseStorageEnv({ ...base, INTERNAL_API_KEY: undefined })).toThrow(
    "INTERNAL_API_KEY required for services server role",
  );
});

test("NAS_WORKSPACE_PATH alone gives one local disk", () => {
  const env = parseStorageEnv(base);
  expect(env.disks).toEqual({ workspace: { driver: "local", root: "/srv/depot" } });
  expect(env.defaultDisk).toBe("workspace");
  expect(env.port).toBe(8001);
});

test("STORAGE_CONFIG must configure the default disk", () => {
  const STORAGE_CONFIG = JSON.stringify({ disks: { archive: { driver: "local", root: "/srv/a" } } });
  expect(() => parseStorageEnv({ ...base, NAS_WORKSPACE_PATH: undefined, STORAGE_CONFIG })).toThrow(
    /WORKSPACE_STORAGE_DISK names "workspace"/,
  );
  expect(parseStorageEnv({ ...base, STORAGE_CONFIG, WORKSPACE_STORAGE_DISK: "archive" }).defaultDisk).toBe("archive");
});

test("a broken STORAGE_CONFIG is named clearly", () => {
  expect(() => parseStorageEnv({ ...base, STORAGE_CONFIG: "{" })).toThrow("STORAGE_CONFIG is not valid JSON");
  expect(() => parseStorageEnv({ ...base, STORAGE_CONFIG: '{"disks":{"w":{"driver":"ftp"}}}' })).toThrow(
    /STORAGE_CONFIG is invalid/,
  );
});

test("SERVER_ROLE must be services", () => {
  expect(() => parseStorageEnv({ ...base, SERVER_ROLE: "web" })).toThrow(/SERVER_ROLE must be 'services'/);
});
