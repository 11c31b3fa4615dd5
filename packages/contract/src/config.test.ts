import { expect, test } from "vitest";
import { DEFAULT_DISK_NAME, defaultDiskName, internalApiKeySchema } from "./config";

const messages = (role: "web" | "services", value: unknown) => {
  const parsed = internalApiKeySchema(role).safeParse(value);
  return parsed.success ? [] : parsed.error.issues.map((i) => i.message);
};

test("the internal API key: the same rule for both tiers, each naming its role when the key is missing", () => {
  for (const role of ["web", "services"] as const) {
    expect(messages(role, undefined)).toEqual([`INTERNAL_API_KEY required for ${role} server role`]);
    expect(messages(role, "")).toEqual([`INTERNAL_API_KEY required for ${role} server role`]);
    expect(messages(role, "fifteen-chars15")).toEqual(["INTERNAL_API_KEY must be at least 16 characters"]);
    expect(messages(role, "sixteen-chars-16")).toEqual([]);
  }
});

test("the default disk: WORKSPACE_STORAGE_DISK when it names one, workspace when unset or empty", () => {
  expect(DEFAULT_DISK_NAME).toBe("workspace");
  expect(defaultDiskName({})).toBe("workspace");
  expect(defaultDiskName({ WORKSPACE_STORAGE_DISK: "" })).toBe("workspace");
  expect(defaultDiskName({ WORKSPACE_STORAGE_DISK: "  " })).toBe("workspace");
  expect(defaultDiskName({ WORKSPACE_STORAGE_DISK: "archive" })).toBe("archive");
});
