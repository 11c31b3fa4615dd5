import { chmodSync } from "node:fs";
import { build } from "esbuild";

// One file with every dependency inside, so the packed tarball installs with `npm i -g` and no registry.
await build({
  entryPoints: ["src/main.ts"],
  outfile: "dist/depot.js",
  bundle: true,
  platform: "node",
  target: "node20",
  format: "esm",
  // CommonJS dependencies (tus-js-client, cli-progress) call require() for Node's own modules.
  banner: {
    js: 'import { createRequire as __depotRequire } from "node:module"; const require = __depotRequire(import.meta.url);',
  },
  legalComments: "linked",
  logLevel: "warning",
});
chmodSync("dist/depot.js", 0o755);
