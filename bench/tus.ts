/**
 * `pnpm bench:tus`: Depot's resumable uploads against @tus/server's own stores, standalone, in one run: the same
 * client (bench/client.ts), the same 8 MiB PATCHes, 1 GiB each. On the local disk, through the web and straight to
 * storage against @tus/file-store; on Ceph RGW, straight to storage with an S3 disk against @tus/s3-store on the same
 * bucket. Also each upload's last PATCH, the CPU seconds every process on the path spent, and what fsyncing every
 * 8 MiB and hashing 1 GiB cost on this disk and CPU (details.diskAndHash).
 * Writes bench/results/tus.json. Everything it starts goes away at the end, on failure and on Ctrl-C too.
 */
import { createHash, randomUUID } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { ListObjectsV2Command } from "@aws-sdk/client-s3";
import { buildStorageKey } from "@depot/contract";
import { createFileRecord } from "@depot/db";
import { freePort } from "@depot/db/testing";
import { waitFor } from "../scripts/readiness";
import { SERVER_NODE_FLAGS } from "../scripts/stack";
import type { Target } from "./client";
import {
  type ClientRunner,
  childEnv,
  figure,
  flushDirtyPages,
  GiB,
  MiB,
  mbPerSecond,
  measureUpload,
  type Pids,
  runBenchmark,
  startChild,
  withDb,
  workFolder,
  writeResult,
} from "./lib";
import { sha256Ms, writeMs } from "./payload";
import { deleteUpload, startDepot, startS3, startStorage } from "./stack";

const BYTES = GiB;
const CHUNK_BYTES = 8 * MiB;
type TusTarget = Target & { route: "tus" };

/** A file row for an upload straight to storage, as the web would create it. */
async function fileRow(databaseUrl: string, cohortId: string): Promise<string> {
  const id = randomUUID();
  const row = { id, cohortId, uploaderId: null, originalName: "bench.bin", kind: "submission" } as const;
  const storage = { storageDisk: "workspace", storageKey: buildStorageKey(cohortId, id) };
  await withDb(databaseUrl, 1, ({ db }) => createFileRecord(db, { ...row, ...storage }));
  return id;
}

/** A 1 GiB upload, with the CPU seconds of each process on its path. */
type Run = { ms: number; lastPatchMs: number; cpu: Record<string, number>; fileId?: string; expectedSha256: string };

async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

async function main(): Promise<void> {
  const workDir = await workFolder("depot-bench-tus-");
  const stack = await startDepot(workDir, { storageEnv: { AUDIT_VERIFY_INTERVAL_MINUTES: "0" } });
  const runs: Record<string, Run> = {};
  const tus = (url: string, extra: { cohortId?: string; fileId?: string } = {}) =>
    ({ route: "tus", url, chunkBytes: CHUNK_BYTES, ...extra }) as const;

  /** One 1 GiB upload (after a 1 MiB warm-up on the same route), timed, with the CPU of `pids`. */
  const measure = async (name: string, run: ClientRunner, target: () => Promise<TusTarget>, pids: Pids) => {
    const digest = !name.endsWith("-store"); // the baselines report none: what they stored is checked below
    await measureUpload(run, `${name} warm-up`, { target: await target(), bytes: MiB }, {}, digest);
    const job = { target: await target(), bytes: BYTES };
    const { upload, cpu } = await measureUpload(run, name, job, pids, digest);
    const { ms, finalRequestMs, expectedSha256 } = upload;
    const fileId = upload.fileId ?? job.target.fileId;
    runs[name] = { ms, lastPatchMs: finalRequestMs ?? Number.NaN, cpu, fileId, expectedSha256 };
    return runs[name];
  };
  /** @tus/server with one of its stores, standalone: measured as Depot is, then stopped. */
  const baseline = async (kind: "file" | "s3", where: string, pids: Pids = {}) => {
    const [port, label] = [await freePort(), `@tus/server with @tus/${kind}-store`];
    const url = `http://127.0.0.1:${port}/files/`;
    // stdin is a pipe so that the baseline notices (EOF) when the bench dies without cleaning up.
    const child = startChild(label, ["bench/tus-baseline.ts", String(port), kind, where], childEnv(), {
      stdin: "pipe",
      nodeFlags: SERVER_NODE_FLAGS,
    });
    await waitFor(label, async () => (await fetch(url, { method: "OPTIONS" })).status === 204, child.process, 60_000);
    await measure(`${kind}-store`, stack.runClient, async () => tus(url), { baseline: child.pid, ...pids });
    await child.stop();
  };

  // 1. The local disk: @tus/file-store, then Depot through the web and straight to storage.
  const files = join(workDir, "tus-files");
  await mkdir(files);
  await baseline("file", files);
  // @tus/server reports no digest: hash what its file store wrote instead (beside each upload, a .json of its own).
  const uploads = (await readdir(files)).filter((name) => !name.endsWith(".json"));
  const digests = await Promise.all(uploads.map((name) => sha256File(join(files, name))));
  if (!digests.includes(runs["file-store"]!.expectedSha256))
    throw new Error("@tus/file-store does not hold the bytes the client sent");
  await rm(files, { recursive: true });
  const viaWeb = tus(new URL("/api/uploads/tus/", stack.webUrl).href, { cohortId: stack.cohortId });
  await deleteUpload(stack, await measure("web", stack.runClient, async () => viaWeb, stack.pids()));
  /** Storage's own tus route, with a new file row for every upload. */
  const toStorage = (servicesUrl: string) => async () =>
    tus(new URL("/internal/tus/", servicesUrl).href, { fileId: await fileRow(stack.databaseUrl, stack.cohortId) });
  await deleteUpload(stack, await measure("storage", stack.runClient, toStorage(stack.servicesUrl), stack.pids()));

  // 2. Ceph RGW: @tus/s3-store, then Depot's storage service with an S3 disk on the same bucket.
  const { rgw, s3, storageEnv } = await startS3(4 * GiB);
  const s3Pids = rgw.pids();
  await baseline("s3", JSON.stringify(rgw.disk({ prefix: "tus-s3-store/" })), s3Pids);
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: rgw.bucket }));
  if (!listed.Contents?.some((object) => object.Size === BYTES))
    throw new Error("@tus/s3-store stored no 1 GiB object");
  const s3Env = { ...storageEnv, AUDIT_VERIFY_INTERVAL_MINUTES: "0" };
  const s3Storage = await startStorage(workDir, s3Env, stack.databaseUrl);
  const s3StoragePids = { storage: s3Storage.pid(), ...s3Pids };
  await measure("s3-storage", s3Storage.runClient, toStorage(s3Storage.servicesUrl), s3StoragePids);
  await s3Storage.stop();

  // What the disk and the hash add: an fsync after every 8 MiB (Depot answers a PATCH once its bytes are durable;
  // @tus/file-store does not fsync), and sha256 of every byte.
  const probe = join(workDir, "disk-probe");
  const probed = async (fsync: "never" | "each") => {
    await flushDirtyPages(); // neither probe pays for what ran before it
    return writeMs(probe, BYTES, fsync);
  };
  const disk = {
    writeNoFsyncMs: await probed("never"),
    writeFsyncEachChunkMs: await probed("each"),
    sha256Ms: sha256Ms(BYTES),
  };
  console.log(`disk and hash: ${JSON.stringify(disk)}`);
  const rate = (name: string) => mbPerSecond(BYTES, runs[name]!.ms);
  const lastPatch = (name: string) => runs[name]!.lastPatchMs / 1000;
  const vs = ["@tus/server + @tus/file-store", rate("file-store")] as const;
  const vsPatch = { vs: ["@tus/file-store's last PATCH", lastPatch("file-store")] } as const;
  const webPatch = "last PATCH of the 1 GiB upload through the web";
  await writeResult(
    "tus",
    [
      figure("tus.web", "1 GiB tus through the web", "MB/s", rate("web"), { vs, goal: "ratio >= 0.9" }),
      figure("tus.storage", "1 GiB tus straight to storage", "MB/s", rate("storage"), { vs, goal: "ratio >= 1" }),
      figure("tus.web.last_patch", webPatch, "s", lastPatch("web"), { ...vsPatch, goal: "value <= 0.5" }),
      figure("tus.storage.last_patch", "last PATCH straight to storage", "s", lastPatch("storage"), vsPatch),
      figure("tus.s3", "1 GiB tus straight to storage, S3 disk on RGW", "MB/s", rate("s3-storage"), {
        vs: ["@tus/server + @tus/s3-store, same bucket", rate("s3-store")],
        goal: "ratio >= 0.9",
      }),
      figure("tus.s3.last_patch", "last PATCH on the S3 disk", "s", lastPatch("s3-storage"), {
        vs: ["@tus/s3-store's last PATCH", lastPatch("s3-store")],
      }),
    ],
    { bytes: BYTES, chunkBytes: CHUNK_BYTES, runs, diskAndHash: disk },
  );
}

runBenchmark("tus benchmark", main);
