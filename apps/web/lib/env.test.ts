import { expect, test } from "vitest";
import { parseWebEnv } from "./env";

const complete = {
  INTERNAL_API_KEY: "k".repeat(32),
  SERVICES_URL: "http://127.0.0.1:8001/",
  DATABASE_URL: "postgres://localhost/depot",
  AUTH_SECRET: "s".repeat(32),
};

test("the web role without INTERNAL_API_KEY stops with exactly the original message", () => {
  expect(() => parseWebEnv({ ...complete, INTERNAL_API_KEY: undefined })).toThrow(
    new Error("INTERNAL_API_KEY required for web server role"),
  );
  expect(() => parseWebEnv({ ...complete, INTERNAL_API_KEY: "" })).toThrow(
    new Error("INTERNAL_API_KEY required for web server role"),
  );
});

test("a missing SERVICES_URL is named clearly", () => {
  expect(() => parseWebEnv({ ...complete, SERVICES_URL: undefined })).toThrow(
    /^SERVICES_URL required for web server role/,
  );
});

test("defaults match the original system", () => {
  const env = parseWebEnv(complete);
  expect(env).toMatchObject({
    port: 8000,
    servicesUrl: "http://127.0.0.1:8001",
    smallUploadMaxBytes: 10_000_000,
    sessionIdleMinutes: 60,
    publicUrl: "http://localhost:8000",
  });
  expect(env.allowedExtensions).toEqual(["csv", "tsv", "txt", "sas7bdat", "dta", "sav", "parquet", "zip"]);
});

test("SERVER_ROLE other than web is refused", () => {
  expect(() => parseWebEnv({ ...complete, SERVER_ROLE: "services" })).toThrow(/SERVER_ROLE must be 'web'/);
});

test("TRUSTED_PROXIES trusts nobody by default and refuses an entry that is not an address or range", () => {
  expect(parseWebEnv(complete).trustedProxies.check("127.0.0.1", "ipv4")).toBe(false);
  expect(parseWebEnv({ ...complete, TRUSTED_PROXIES: "127.0.0.1" }).trustedProxies.check("127.0.0.1", "ipv4")).toBe(
    true,
  );
  expect(() => parseWebEnv({ ...complete, TRUSTED_PROXIES: "proxy.internal" })).toThrow(
    /^TRUSTED_PROXIES: "proxy.internal" is not an IP address or CIDR range/,
  );
});

test("the web refuses an internal API key storage would refuse (under 16 characters), with storage's message", () => {
  expect(() => parseWebEnv({ ...complete, INTERNAL_API_KEY: "short-key" })).toThrow(
    new Error("INTERNAL_API_KEY must be at least 16 characters"),
  );
});

test("the default disk is the contract's, also when WORKSPACE_STORAGE_DISK is set but empty", () => {
  expect(parseWebEnv(complete).defaultDisk).toBe("workspace");
  expect(parseWebEnv({ ...complete, WORKSPACE_STORAGE_DISK: "" }).defaultDisk).toBe("workspace");
  expect(parseWebEnv({ ...complete, WORKSPACE_STORAGE_DISK: "archive" }).defaultDisk).toBe("archive");
});
