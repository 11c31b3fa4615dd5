/**
 * Ceph's RADOS Gateway, the one S3 server of Depot's tests, fault cases and benchmarks: one monitor, one memstore
 * OSD and radosgw on loopback, from Debian 12's packages, with every file (config, pid files, logs, the monitor's
 * store) in one throwaway folder. Not for production: no authentication inside the cluster, data only in memory.
 *
 *   pnpm rgw [DIR]   starts a cluster (in DIR, else a new folder under the system's temp folder), prints its S3
 *                    disk for STORAGE_CONFIG, and stops it and removes the folder on Ctrl-C
 *
 * Ports (all 127.0.0.1): DEPOT_RGW_PORT_BASE (default 17480) is the S3 endpoint, +1 the monitor, +2..+9 the OSD.
 * Missing packages are installed with apt-get when running as root, like .ci/run installs chromium.
 * Every started cluster has a watchdog that stops it and removes its folder once the process that started it is
 * gone, so a test run that crashes or is killed leaves nothing running.
 */
import { execFile, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { CreateBucketCommand, HeadBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { ensureDebianPackages } from "./debian";

const run = promisify(execFile);

/** The Debian packages the gateway needs (about 95 packages with their dependencies, ~21 s to install). */
export const CEPH_PACKAGES = ["ceph-mon", "ceph-osd", "radosgw", "ceph-common"] as const;
const BINARIES = ["ceph-mon", "ceph-osd", "radosgw", "radosgw-admin", "ceph", "monmaptool", "ceph-authtool"];
const DAEMONS = ["client.rgw.depot", "osd.0", "mon.a"] as const;
const DEFAULT_PORT_BASE = 17480;

export interface RgwOptions {
  /** The cluster's folder; a new one under the temp folder when absent. Removed by stop(). */
  dir?: string;
  /** S3 on portBase, the monitor on +1, the OSD on +2..+9. Default: DEPOT_RGW_PORT_BASE, else 17480. */
  portBase?: number;
  bucket?: string;
  /** The OSD keeps every object in memory, up to this many bytes (default 2 GiB; freed 30 s after a delete). */
  memstoreBytes?: number;
  log?: (line: string) => void;
}

export interface RunningRgw {
  dir: string;
  endpoint: string;
  region: string;
  bucket: string;
  accessKey: string;
  secretKey: string;
  /** An S3 disk for STORAGE_CONFIG on this gateway. */
  disk(overrides?: Record<string, unknown>): {
    driver: "s3";
    bucket: string;
    endpoint: string;
    region: string;
    access_key: string;
    secret_key: string;
    force_path_style: true;
    prefix: string;
  };
  /** The pids of radosgw and the OSD (for CPU accounting). */
  pids(): { gateway: number | null; osd: number | null };
  /** SIGKILLs radosgw only (the S3 endpoint goes away; the objects stay in the OSD). */
  killGateway(): Promise<void>;
  /** Starts radosgw again on the same port and waits until the bucket answers. */
  startGateway(): Promise<void>;
  stop(): Promise<void>;
}

export function portBaseFromEnv(): number {
  const value = Number(process.env.DEPOT_RGW_PORT_BASE ?? DEFAULT_PORT_BASE);
  if (!Number.isInteger(value) || value < 1024 || value > 65525) {
    throw new Error(`DEPOT_RGW_PORT_BASE must be a port number (1024-65525), not ${process.env.DEPOT_RGW_PORT_BASE}`);
  }
  return value;
}

/** Installs Ceph's Debian packages when a binary is missing; a clear error naming them where it cannot. */
export const ensureCephInstalled = (log: (line: string) => void = console.log) =>
  ensureDebianPackages({
    purpose: "Ceph's RADOS Gateway (the S3 tests)",
    packages: CEPH_PACKAGES,
    binaries: BINARIES,
    log,
  });

function config(dir: string, fsid: string, portBase: number, memstoreBytes: number): string {
  return `[global]
fsid = ${fsid}
mon host = [v2:127.0.0.1:${portBase + 1}]
public network = 127.0.0.0/8
auth cluster required = none
auth service required = none
auth client required = none
# AuthNone cannot do msgr2's secure mode, which radosgw asks the monitor for by default
ms mon client mode = crc
client mount timeout = 60
ms bind msgr1 = false
ms bind msgr2 = true
ms bind port min = ${portBase + 2}
ms bind port max = ${portBase + 9}
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon allow pool delete = true
mon max pg per osd = 1000
mon warn on pool no redundancy = false
mon warn on insecure global id reclaim allowed = false
mon data avail warn = 10
osd crush chooseleaf type = 0
run dir = ${dir}/run
admin socket = ${dir}/run/$name.asok
pid file = ${dir}/run/$name.pid
log file = ${dir}/log/$name.log
log to stderr = false
err to stderr = false
[mon]
mon data = ${dir}/mon/$name
[osd]
osd data = ${dir}/osd/$name
osd objectstore = memstore
memstore device bytes = ${memstoreBytes}
[client.rgw.depot]
rgw frontends = beast endpoint=127.0.0.1:${portBase}
rgw data = ${dir}/rgw
rgw enable usage log = false
rgw init timeout = 120
# memstore holds every byte in RAM: free deleted objects' data after 30 s, not 2 h
rgw gc obj min wait = 30
rgw gc processor period = 30
rgw gc processor max time = 30
`;
}

/** The pid of a daemon of this folder's cluster, or null (a pid file may name a pid reused by another process). */
function daemonPid(dir: string, name: string): number | null {
  const file = join(dir, "run", `${name}.pid`);
  if (!existsSync(file)) return null;
  const pid = Number(readFileSync(file, "utf8").trim());
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    return cmdline.includes(join(dir, "ceph.conf")) ? pid : null;
  } catch {
    return null;
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function killDaemon(dir: string, name: string, signal: NodeJS.Signals): Promise<void> {
  const pid = daemonPid(dir, name);
  if (pid === null) return;
  process.kill(pid, signal);
  for (let i = 0; i < 50 && alive(pid); i++) await sleep(100);
  if (alive(pid)) process.kill(pid, "SIGKILL");
  for (let i = 0; i < 50 && alive(pid); i++) await sleep(100);
  rmSync(join(dir, "run", `${name}.pid`), { force: true });
}

/** Stops every daemon of the cluster in `dir` (by its pid files) and removes the folder. Idempotent. */
export async function stopRgw(dir: string): Promise<void> {
  if (!existsSync(join(dir, "ceph.conf"))) {
    if (existsSync(dir) && readdirSync(dir).length === 0) rmSync(dir, { recursive: true, force: true });
    return;
  }
  for (const name of DAEMONS) await killDaemon(dir, name, "SIGTERM");
  rmSync(dir, { recursive: true, force: true });
}

/**
 * A detached shell that waits for `ownerPid` to end, then kills the cluster's daemons and removes its folder. It
 * ends by itself once the folder is gone (a normal stop).
 */
function startWatchdog(dir: string, ownerPid: number): void {
  const pidFiles = DAEMONS.map((name) => `"${dir}/run/${name}.pid"`).join(" ");
  const script = `
while kill -0 ${ownerPid} 2>/dev/null && [ -e "${dir}/ceph.conf" ]; do sleep 1; done
[ -e "${dir}/ceph.conf" ] || exit 0
for f in ${pidFiles}; do
  [ -f "$f" ] || continue
  p=$(cat "$f")
  tr '\\0' ' ' < /proc/$p/cmdline 2>/dev/null | grep -q -- "${dir}/ceph.conf" && kill -KILL "$p"
done
sleep 1
rm -rf "${dir}"
`;
  const child = spawn("sh", ["-c", script], { detached: true, stdio: "ignore" });
  child.unref();
}

async function ceph(dir: string, args: string[], timeoutMs = 10_000): Promise<string> {
  const { stdout } = await run("ceph", ["-c", join(dir, "ceph.conf"), "--connect-timeout", "5", ...args], {
    timeout: timeoutMs,
  });
  return stdout;
}

async function until(what: string, dir: string, logName: string, check: () => Promise<boolean>, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await sleep(250);
  }
  const logFile = join(dir, "log", `${logName}.log`);
  const tail = existsSync(logFile) ? readFileSync(logFile, "utf8").split("\n").slice(-15).join("\n") : "(no log)";
  throw new Error(`${what} within ${timeoutMs / 1000} s; last lines of ${logFile}:\n${tail}`);
}

/** SIGKILLs the radosgw of the cluster in `dir`: the S3 endpoint goes away, the objects stay in the OSD. */
export const killGateway = (dir: string) => killDaemon(dir, "client.rgw.depot", "SIGKILL");

/** Starts the radosgw of the cluster in `dir` (again) and waits until `endpoint` answers. */
export async function startGateway(dir: string, endpoint: string): Promise<void> {
  await run("radosgw", ["-c", join(dir, "ceph.conf"), "-n", "client.rgw.depot"]);
  await until(
    `radosgw did not answer on ${endpoint} (port taken? set DEPOT_RGW_PORT_BASE)`,
    dir,
    "client.rgw.depot",
    async () => {
      await fetch(`${endpoint}/`, { signal: AbortSignal.timeout(2_000) }).then((r) => r.arrayBuffer());
      return true;
    },
    60_000,
  );
}

/** The gateway of a test run, as the global setup (`rgwGlobalSetup`) hands it to the test processes. */
export const TEST_S3_ENV = {
  endpoint: "DEPOT_TEST_S3_ENDPOINT",
  bucket: "DEPOT_TEST_S3_BUCKET",
  accessKey: "DEPOT_TEST_S3_ACCESS_KEY",
  secretKey: "DEPOT_TEST_S3_SECRET_KEY",
  region: "DEPOT_TEST_S3_REGION",
  pathStyle: "DEPOT_TEST_S3_PATH_STYLE",
  /** Set only when the run started its own gateway: its folder, for killGateway / startGateway. */
  rgwDir: "DEPOT_TEST_RGW_DIR",
} as const;

/**
 * A Vitest global setup: one gateway for the whole run, described to the tests in TEST_S3_ENV, stopped at the end.
 * With `allowExternal` and DEPOT_TEST_S3_BUCKET already set, the tests use that S3 endpoint and nothing starts.
 */
export async function rgwGlobalSetup(options: { allowExternal: boolean; memstoreBytes?: number }) {
  if (options.allowExternal && process.env[TEST_S3_ENV.bucket]) return;
  const rgw = await startRgw({ memstoreBytes: options.memstoreBytes, log: (line) => console.log(line) });
  Object.assign(process.env, {
    [TEST_S3_ENV.endpoint]: rgw.endpoint,
    [TEST_S3_ENV.bucket]: rgw.bucket,
    [TEST_S3_ENV.accessKey]: rgw.accessKey,
    [TEST_S3_ENV.secretKey]: rgw.secretKey,
    [TEST_S3_ENV.region]: rgw.region,
    [TEST_S3_ENV.pathStyle]: "true",
    [TEST_S3_ENV.rgwDir]: rgw.dir,
  });
  return () => rgw.stop();
}

/** Starts a single-node cluster with a gateway and one bucket; ~16 s on 2 cores. */
export async function startRgw(options: RgwOptions = {}): Promise<RunningRgw> {
  const log = options.log ?? (() => {});
  const portBase = options.portBase ?? portBaseFromEnv();
  const bucket = options.bucket ?? "depot";
  const accessKey = "DEPOTTESTACCESSKEY01";
  const secretKey = randomUUID().replaceAll("-", "");
  const region = "us-east-1";
  const endpoint = `http://127.0.0.1:${portBase}`;
  await ensureCephInstalled(log);

  const dir = resolve(options.dir ?? mkdtempSync(join(tmpdir(), "depot-rgw-")));
  mkdirSync(dir, { recursive: true });
  if (readdirSync(dir).length > 0) throw new Error(`${dir} is not empty: the cluster needs a folder of its own`);
  for (const sub of ["mon/mon.a", "osd/osd.0", "rgw", "run", "log"]) mkdirSync(join(dir, sub), { recursive: true });
  const conf = join(dir, "ceph.conf");
  const fsid = randomUUID();
  writeFileSync(conf, config(dir, fsid, portBase, options.memstoreBytes ?? 2 * 1024 ** 3));
  startWatchdog(dir, process.pid);
  const startedAt = Date.now();
  const step = (what: string) => log(`[rgw ${((Date.now() - startedAt) / 1000).toFixed(1)} s] ${what}`);

  const client = new S3Client({
    region,
    endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: accessKey, secretAccessKey: secretKey },
    maxAttempts: 1,
  });
  const bucketAnswers = async () => {
    await client.send(new HeadBucketCommand({ Bucket: bucket }), { abortSignal: AbortSignal.timeout(5_000) });
    return true;
  };

  try {
    await run("ceph-authtool", [
      "--create-keyring",
      join(dir, "mon.keyring"),
      "--gen-key",
      "-n",
      "mon.",
      "--cap",
      "mon",
      "allow *",
    ]);
    await run("monmaptool", [
      "--create",
      "--fsid",
      fsid,
      "--addv",
      "a",
      `[v2:127.0.0.1:${portBase + 1}]`,
      `${dir}/monmap`,
    ]);
    await run("ceph-mon", [
      "-c",
      conf,
      "--mkfs",
      "-i",
      "a",
      "--monmap",
      `${dir}/monmap`,
      "--keyring",
      `${dir}/mon.keyring`,
    ]);
    await run("ceph-mon", ["-c", conf, "-i", "a"]).catch((error: Error) => {
      throw new Error(`ceph-mon did not start (port ${portBase + 1} taken? set DEPOT_RGW_PORT_BASE): ${error.message}`);
    });
    await until(
      "the monitor did not answer",
      dir,
      "mon.a",
      async () => (await ceph(dir, ["mon", "stat"])).length > 0,
      30_000,
    );
    step(`monitor up on 127.0.0.1:${portBase + 1}`);
    const osdUuid = randomUUID();
    const id = (await ceph(dir, ["osd", "new", osdUuid])).trim();
    if (id !== "0") throw new Error(`expected OSD id 0, got ${id}`);
    await run("ceph-osd", ["-c", conf, "-i", "0", "--mkfs", "--osd-uuid", osdUuid]);
    await run("ceph-osd", ["-c", conf, "-i", "0"]);
    await until(
      "the OSD did not come up",
      dir,
      "osd.0",
      async () => (await ceph(dir, ["osd", "stat", "-f", "json"])).includes('"num_up_osds":1'),
      60_000,
    );
    step("OSD up (memstore)");
    await startGateway(dir, endpoint);
    step(`radosgw answering on ${endpoint}`);
    await run("radosgw-admin", [
      "-c",
      conf,
      "user",
      "create",
      "--uid=depot",
      "--display-name=Depot tests",
      `--access-key=${accessKey}`,
      `--secret=${secretKey}`,
    ]);
    await until(
      `bucket ${bucket} could not be created`,
      dir,
      "client.rgw.depot",
      async () => {
        await client.send(new CreateBucketCommand({ Bucket: bucket })).catch(async (error: { name?: string }) => {
          if (error.name !== "BucketAlreadyOwnedByYou") throw error;
        });
        return bucketAnswers();
      },
      30_000,
    );
    step(`bucket ${bucket} ready`);
  } catch (error) {
    client.destroy();
    await stopRgw(dir);
    throw error;
  }

  return {
    dir,
    endpoint,
    region,
    bucket,
    accessKey,
    secretKey,
    disk: (overrides = {}) => ({
      driver: "s3",
      bucket,
      endpoint,
      region,
      access_key: accessKey,
      secret_key: secretKey,
      force_path_style: true,
      prefix: "depot/",
      ...overrides,
    }),
    pids: () => ({ gateway: daemonPid(dir, "client.rgw.depot"), osd: daemonPid(dir, "osd.0") }),
    killGateway: () => killGateway(dir),
    startGateway: () => startGateway(dir, endpoint),
    async stop() {
      client.destroy();
      await stopRgw(dir);
    },
  };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  // In the foreground until Ctrl-C (or SIGTERM): the cluster lives exactly as long as this process.
  const rgw = await startRgw({ dir: process.argv[2], log: (line) => process.stderr.write(`${line}\n`) });
  process.stdout.write(
    `endpoint=${rgw.endpoint}\nfolder=${rgw.dir}\n` +
      `STORAGE_CONFIG=${JSON.stringify({ disks: { workspace: rgw.disk() } })}\n(Ctrl-C stops it and removes the folder)\n`,
  );
  const stop = () => void rgw.stop().finally(() => process.exit(0));
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}
