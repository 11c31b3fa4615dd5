/**
 * The peer for resumable uploads: @tus/server with @tus/file-store, standalone, as its own process.
 * Usage: `node --import tsx bench/tus-baseline.ts <directory>`. Serves tus 1.0 at /files/ on 127.0.0.1 (a free port)
 * with no authentication, database or hashing; prints `{"port":N}` once listening; stops on SIGTERM, SIGINT or when
 * its stdin closes (the bench died).
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { FileStore } from "@tus/file-store";
import { Server } from "@tus/server";

const [directory] = process.argv.slice(2);
if (!directory) {
  process.stderr.write("usage: tus-baseline.ts <directory>\n");
  process.exit(2);
}

const tus = new Server({ path: "/files", datastore: new FileStore({ directory }) });
// Like Depot's servers: no total request timeout, so a slow upload is not cut off.
const server = createServer({ requestTimeout: 0 }, (req, res) => {
  void tus.handle(req, res);
});
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
});

let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  server.close(() => process.exit(0));
  server.closeAllConnections();
};
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
process.stdin.on("end", stop).on("close", stop).resume();
