/**
 * s3rver as its own process for the storage benchmark, so the S3 server does not share an event loop with the
 * client it is measured against. Usage: `node --import tsx bench/s3rver.ts <directory> <bucket> [port]`.
 * Prints `{"port":N}` once listening on 127.0.0.1; stops on SIGTERM, SIGINT or when its stdin closes (the bench died).
 */

import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";

interface S3rverOptions {
  port: number;
  address: string;
  directory: string;
  silent: boolean;
  configureBuckets: { name: string }[];
}
interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}
// s3rver ships no type declarations.
const S3rver = createRequire(import.meta.url)("s3rver") as new (options: S3rverOptions) => S3rverInstance;

const [directory, bucket, port = "0"] = process.argv.slice(2);
if (!directory || !bucket) {
  process.stderr.write("usage: s3rver.ts <directory> <bucket>\n");
  process.exit(2);
}

const server = new S3rver({
  port: Number(port),
  address: "127.0.0.1",
  directory,
  silent: true,
  configureBuckets: [{ name: bucket }],
});
const address = await server.run();
process.stdout.write(`${JSON.stringify({ port: address.port })}\n`);

let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  void server.close().finally(() => process.exit(0));
};
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
process.stdin.on("end", stop).on("close", stop).resume();
