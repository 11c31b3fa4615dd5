/**
 * s3rver as its own process for the storage benchmark, so the S3 server does not share an event loop with the
 * client it is measured against. Usage: `node --import tsx bench/s3rver.ts <directory> <bucket> [port]`.
 * Prints `{"port":N}` once listening on 127.0.0.1; stops on SIGTERM, SIGINT or when its stdin closes (the bench died).
 */

import { startS3rver } from "../apps/storage/src/drivers/s3rver.testing";

const [directory, bucket, port = "0"] = process.argv.slice(2);
if (!directory || !bucket) {
  process.stderr.write("usage: s3rver.ts <directory> <bucket>\n");
  process.exit(2);
}

const server = await startS3rver({ directory, bucket, port: Number(port) });
process.stdout.write(`${JSON.stringify({ port: server.port })}\n`);

let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  void server.close().finally(() => process.exit(0));
};
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
process.stdin.on("end", stop).on("close", stop).resume();
