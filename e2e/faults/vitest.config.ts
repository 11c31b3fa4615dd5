import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["faults/**/*.test.ts"],
    globalSetup: ["faults/rgw.global-setup.ts"],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    fileParallelism: false,
  },
});
