import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import type { S3DiskConfig } from "./config";

/**
 * s3rver, the real S3 API server the S3 driver is tested and benchmarked against, started in this process on a
 * loopback port with one bucket. For tests and benchmarks only.
 */
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
const require = createRequire(import.meta.url);
// s3rver ships no type declarations.
const S3rver = require("s3rver") as new (options: S3rverOptions) => S3rverInstance;
const nodeCrypto = require("node:crypto") as typeof import("node:crypto");

/**
 * s3rver encrypts its ListObjectsV2 continuation tokens with single DES, which OpenSSL 3 offers only with the legacy
 * provider, so every truncated listing fails with a 500. Triple DES with the key repeated three times computes
 * exactly single DES, and is still in the default provider. Returns the undo.
 */
function letS3rverUseDes(): () => void {
  type CipherFactory = (algorithm: string, key: Buffer, iv: Buffer | null, options?: object) => unknown;
  const { createCipheriv, createDecipheriv } = nodeCrypto;
  const withTripleDes =
    (factory: CipherFactory): CipherFactory =>
    (algorithm, key, iv, options) =>
      algorithm === "des"
        ? factory("des-ede3-cbc", Buffer.concat([key, key, key]), iv, options)
        : factory(algorithm, key, iv, options);
  nodeCrypto.createCipheriv = withTripleDes(createCipheriv as CipherFactory) as typeof createCipheriv;
  nodeCrypto.createDecipheriv = withTripleDes(createDecipheriv as CipherFactory) as typeof createDecipheriv;
  return () => {
    nodeCrypto.createCipheriv = createCipheriv;
    nodeCrypto.createDecipheriv = createDecipheriv;
  };
}

export interface RunningS3rver {
  endpoint: string;
  port: number;
  close(): Promise<void>;
}

export async function startS3rver(options: {
  directory: string;
  bucket: string;
  port?: number;
}): Promise<RunningS3rver> {
  const undoDesShim = letS3rverUseDes();
  const server = new S3rver({
    port: options.port ?? 0,
    address: "127.0.0.1",
    directory: options.directory,
    silent: true,
    configureBuckets: [{ name: options.bucket }],
  });
  try {
    const { port } = await server.run();
    return {
      endpoint: `http://127.0.0.1:${port}`,
      port,
      async close() {
        await server.close();
        undoDesShim();
      },
    };
  } catch (error) {
    undoDesShim();
    throw error;
  }
}

/** An S3 disk on s3rver: its fixed credentials, path-style addressing and Depot's usual prefix. */
export const s3rverDisk = (endpoint: string, bucket: string, overrides: Partial<S3DiskConfig> = {}): S3DiskConfig => ({
  driver: "s3",
  bucket,
  endpoint,
  region: "us-east-1",
  access_key: "S3RVER",
  secret_key: "S3RVER",
  force_path_style: true,
  prefix: "depot/",
  ...overrides,
});
