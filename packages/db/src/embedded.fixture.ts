// Test fixture for embedded.test.ts: starts a server and keeps running until killed.
import { startEmbeddedPostgres } from "./embedded";

const [dataDir, port] = process.argv.slice(2);
await startEmbeddedPostgres({ dataDir: dataDir ?? "", port: Number(port) });
console.log("started");
setInterval(() => {}, 1_000);
