import { createRequire } from "node:module";
import { defineConfig } from "vitest/config";

const require = createRequire(import.meta.url);

export default defineConfig({
  test: {
    globalSetup: [require.resolve("@depot/db/test-global-setup"), "./rgw.global-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
