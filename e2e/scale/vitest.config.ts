import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["scale/**/*.test.ts"],
    globalSetup: ["faults/rgw.global-setup.ts"],
    testTimeout: 600_000,
    hookTimeout: 240_000,
    fileParallelism: false,
  },
});
