/**
 * The peers for resumable uploads: @tus/server with @tus/file-store, or with @tus/s3-store, standalone, as its own
 * process. Usage: `node --import tsx bench/tus-baseline.ts <port> file <directory>` or `… <port> s3 '<S3 disk as
 * JSON>'`. Serves tus 1.0 at /files/ on 127.0.0.1:<port> with no authentication, database or hashing; stops on
 * SIGTERM, SIGINT or when its stdin closes (the bench died).
 */
import { createServer } from "node:http";
import { FileStore } from "@tus/file-store";
import { S3Store } from "@tus/s3-store";
import { Server } from "@tus/server";
import type { S3DiskConfig } from "../apps/storage/src/drivers/config";

const [port, kind, where = ""] = process.argv.slice(2);

function s3Store(disk: S3DiskConfig) {
  return new S3Store({
    // Depot's S3 resumable parts are 8 MiB too; everything else as @tus/s3-store ships.
    partSize: 8 * 1024 * 1024,
    s3ClientConfig: {
      bucket: disk.bucket,
      region: disk.region,
      endpoint: disk.endpoint,
      forcePathStyle: disk.force_path_style,
      credentials: { accessKeyId: disk.access_key, secretAccessKey: disk.secret_key },
      // As Depot's client (apps/storage/src/drivers/s3.ts): RGW refuses the SDK's default trailing checksums.
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
    },
  });
}

const datastore = kind === "file" ? new FileStore({ directory: where }) : s3Store(JSON.parse(where) as S3DiskConfig);
const tus = new Server({ path: "/files", datastore });
// Like Depot's servers: no total request timeout, so a slow upload is not cut off.
const server = createServer({ requestTimeout: 0 }, (req, res) => {
  void tus.handle(req, res);
});
server.listen(Number(port), "127.0.0.1");

let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  server.close(() => process.exit(0));
  server.closeAllConnections();
};
for (const signal of ["SIGTERM", "SIGINT"]) process.once(signal, stop);
process.stdin.on("end", stop).on("close", stop).resume();
