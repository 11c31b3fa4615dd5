import { randomBytes } from "node:crypto";
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  type S3Client,
} from "@aws-sdk/client-s3";
import { TEST_S3_ENV } from "../../../../scripts/rgw";
import type { S3DiskConfig } from "./config";

/**
 * The S3 endpoint of a test run: the run's own RADOS Gateway (rgw.global-setup.ts), or the S3 bucket an operator
 * named in DEPOT_TEST_S3_* to check their own MinIO or AWS with the same suites. For tests only.
 */
export function testS3() {
  const env = (name: string) => process.env[name] || undefined;
  const bucket = env(TEST_S3_ENV.bucket);
  const accessKey = env(TEST_S3_ENV.accessKey);
  const secretKey = env(TEST_S3_ENV.secretKey);
  if (!bucket || !accessKey || !secretKey) {
    throw new Error(
      `the S3 tests need ${TEST_S3_ENV.bucket}, ${TEST_S3_ENV.accessKey} and ${TEST_S3_ENV.secretKey} (set by the RADOS Gateway global setup, or by you for another S3 endpoint)`,
    );
  }
  const rgwDir = env(TEST_S3_ENV.rgwDir);
  return {
    bucket,
    endpoint: env(TEST_S3_ENV.endpoint),
    /** The run's own gateway: the whole bucket is the tests' to empty, and the gateway theirs to kill. */
    ownGateway: rgwDir !== undefined,
    rgwDir,
    /** A prefix no other run uses: everything a test writes on a shared bucket stays under it. */
    runPrefix: `depot-test-${randomBytes(6).toString("hex")}/`,
    disk(overrides: Partial<S3DiskConfig> = {}): S3DiskConfig {
      return {
        driver: "s3",
        bucket,
        endpoint: env(TEST_S3_ENV.endpoint),
        region: env(TEST_S3_ENV.region) ?? "us-east-1",
        access_key: accessKey,
        secret_key: secretKey,
        force_path_style: (env(TEST_S3_ENV.pathStyle) ?? "true") !== "false",
        prefix: "depot/",
        ...overrides,
      };
    },
  };
}

/** Every object key and every unfinished multipart upload ("multipart:" + key) under `prefix`. */
export async function listUnder(client: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let continuationToken: string | undefined;
  do {
    const page = await client.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix || undefined, ContinuationToken: continuationToken }),
    );
    for (const object of page.Contents ?? []) if (object.Key) keys.push(object.Key);
    continuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (continuationToken);
  for (const upload of await unfinishedUnder(client, bucket, prefix)) keys.push(`multipart:${upload.key}`);
  return keys;
}

export async function unfinishedUnder(client: S3Client, bucket: string, prefix: string) {
  const found: { key: string; uploadId: string }[] = [];
  let keyMarker: string | undefined;
  let uploadIdMarker: string | undefined;
  do {
    const page = await client.send(
      new ListMultipartUploadsCommand({
        Bucket: bucket,
        Prefix: prefix || undefined,
        KeyMarker: keyMarker,
        UploadIdMarker: uploadIdMarker,
      }),
    );
    for (const upload of page.Uploads ?? []) {
      if (upload.Key && upload.UploadId) found.push({ key: upload.Key, uploadId: upload.UploadId });
    }
    keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
    uploadIdMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined;
  } while (keyMarker);
  return found;
}

/** Removes every object and aborts every multipart upload under `prefix`. */
export async function emptyUnder(client: S3Client, bucket: string, prefix: string): Promise<void> {
  for (const upload of await unfinishedUnder(client, bucket, prefix)) {
    await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: upload.key, UploadId: upload.uploadId }));
  }
  for (const key of await listUnder(client, bucket, prefix)) {
    await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
  }
}
