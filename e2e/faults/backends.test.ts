import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "@depot/db/testing";
import { afterAll, describe, expect, test } from "vitest";
import { s3rverDisk } from "../../apps/storage/src/drivers/s3rver.testing";
import { repoRoot } from "../../scripts/stack";
import { controlledUpload, type FaultStack, startFaultStack } from "./harness";
import { expectNothingLost } from "./invariants";

const MiB = 1024 * 1024;

function multipart(stack: FaultStack, cookie: string, size: number, filename: string) {
  return controlledUpload({
    url: `${stack.webUrl}/api/uploads`,
    headers: { cookie },
    size,
    multipart: { fields: { cohortId: stack.cohortId, kind: "submission" }, filename },
  });
}

/** s3rver in a child process on a fixed port, so the test can take the S3 endpoint away and bring it back. */
async function startS3rver(directory: string, port: number): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "bench/s3rver.ts", directory, "depot-faults", String(port)],
    {
      cwd: repoRoot,
      stdio: ["pipe", "pipe", "inherit"],
    },
  );
  await new Promise<void>((resolve, reject) => {
    child.stdout?.once("data", () => resolve());
    child.once("exit", (code) => reject(new Error(`s3rver exited with ${code}`)));
  });
  return child;
}

/** Every object file s3rver keeps for the bucket, relative to it (temporaries included). */
function bucketObjects(directory: string): string[] {
  const bucket = join(directory, "depot-faults");
  if (!existsSync(bucket)) return [];
  return readdirSync(bucket, { recursive: true })
    .map(String)
    .filter((p) => p.endsWith("._S3rver_object"));
}

/**
 * A fault stack whose only disk is S3 on an s3rver child process, which a test may kill and start again on the same
 * port and folder. Everything goes away after the describe block.
 */
function s3BackedStack() {
  const s3Dir = mkdtempSync(join(tmpdir(), "depot-faults-s3-"));
  let s3: ChildProcess | undefined;
  let stack: FaultStack | undefined;
  let port = 0;
  afterAll(async () => {
    s3?.kill("SIGKILL");
    await stack?.stop();
    rmSync(s3Dir, { recursive: true, force: true });
  });
  return {
    s3Dir,
    async start(env: { storage?: Record<string, string>; web?: Record<string, string> } = {}): Promise<FaultStack> {
      port = await freePort();
      s3 = await startS3rver(s3Dir, port);
      const disk = s3rverDisk(`http://127.0.0.1:${port}`, "depot-faults");
      stack = await startFaultStack({
        storageEnv: { ...env.storage, STORAGE_CONFIG: JSON.stringify({ disks: { workspace: disk } }) },
        webEnv: env.web,
      });
      return stack;
    },
    killS3: () => s3?.kill("SIGKILL"),
    async restartS3() {
      s3 = await startS3rver(s3Dir, port);
    },
  };
}

describe("the S3 endpoint goes away mid-upload", () => {
  const s3 = s3BackedStack();

  test("503 with a clear message, nothing kept, and uploads work again when it is back", async () => {
    const stack = await s3.start();
    const cookie = await stack.signIn();

    const upload = multipart(stack, cookie, 80 * MiB, "s3-gone.csv");
    await upload.reached(30 * MiB);
    const goneAt = Date.now();
    s3.killS3();
    const result = await upload.result;
    expect(result.status, result.body).toBe(503);
    expect(JSON.parse(result.body).error.code).toBe("unavailable");
    expect(result.at - goneAt).toBeLessThan(15_000);
    const [row] = await stack.sql<{ id: string; status: string; storage_key: string }[]>`
      select id::text, status, storage_key from files where original_name = 's3-gone.csv'`;
    expect(row?.status).toBe("failed");

    await s3.restartS3();
    const again = multipart(stack, cookie, 2 * MiB, "s3-back.csv");
    const ok = await again.result;
    expect(ok.status).toBe(201);
    expect(JSON.parse(ok.body).sha256).toBe(again.sha256());
    const objects = bucketObjects(s3.s3Dir);
    expect(objects.some((p) => p.includes(row!.storage_key))).toBe(false);
    expect(objects.filter((p) => p.includes(".tmp"))).toEqual([]);
    expect(objects).toHaveLength(1);
  });
});

describe("a slow completion is not an idle connection", () => {
  const s3 = s3BackedStack();

  test("a tus upload whose join on S3 outlasts the idle timeout completes, on both tiers", async () => {
    // One second without bytes closes a connection; joining 96 MiB of chunks on s3rver takes longer than that,
    // while the client has sent everything and waits for the answer.
    const idle = { IDLE_TIMEOUT_SECONDS: "1" };
    const stack = await s3.start({ storage: idle, web: idle });
    const cookie = await stack.signIn();
    const data = randomBytes(96 * MiB);
    const tus = { "tus-resumable": "1.0.0", cookie };
    const created = await fetch(`${stack.webUrl}/api/uploads/tus/`, {
      method: "POST",
      headers: {
        ...tus,
        "upload-length": String(data.length),
        "upload-metadata": ["cohortId", "kind", "filename"]
          .map((k, i) => `${k} ${Buffer.from([stack.cohortId, "submission", "slow-join.csv"][i]!).toString("base64")}`)
          .join(","),
      },
    });
    expect(created.status).toBe(201);
    const location = `${stack.webUrl}${created.headers.get("location")}`;
    const chunk = 16 * MiB;
    let last: Response | undefined;
    let lastStarted = 0;
    for (let offset = 0; offset < data.length; offset += chunk) {
      lastStarted = Date.now();
      last = await fetch(location, {
        method: "PATCH",
        headers: { ...tus, "upload-offset": String(offset), "content-type": "application/offset+octet-stream" },
        body: new Uint8Array(data.subarray(offset, offset + chunk)),
      });
      expect(last.status, await last.clone().text()).toBe(204);
    }
    const joinMs = Date.now() - lastStarted;
    expect(last?.headers.get("x-depot-sha256")).toBe(createHash("sha256").update(data).digest("hex"));
    // Only meaningful if the last PATCH (its chunk plus the join) really outlasted the idle timeout.
    expect(joinMs).toBeGreaterThan(1_000);
    const [row] = await stack.sql<{ status: string }[]>`select status from files where original_name = 'slow-join.csv'`;
    expect(row?.status).toBe("stored");
  });
});

function mountTmpfs(dir: string, size: string): string | null {
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir], { stdio: "pipe" });
    return null;
  } catch (error) {
    return (error as Error).message.split("\n")[0] ?? "mount failed";
  }
}

const tinyDisk = mkdtempSync(join(tmpdir(), "depot-faults-tiny-"));
chmodSync(tinyDisk, 0o755);
const mountProblem = mountTmpfs(tinyDisk, "24m");
if (mountProblem) console.warn(`disk-full fault case skipped: cannot mount a small tmpfs here (${mountProblem})`);

describe.skipIf(mountProblem !== null)("the disk fills up", () => {
  let stack: FaultStack | undefined;
  afterAll(async () => {
    await stack?.stop().catch(() => {});
    execFileSync("umount", [tinyDisk]);
    rmSync(tinyDisk, { recursive: true, force: true });
  });

  test("507, the partial removed, and the service keeps serving", async () => {
    stack = await startFaultStack({ storageRoot: tinyDisk });
    const cookie = await stack.signIn();
    const upload = multipart(stack, cookie, 60 * MiB, "too-big-for-disk.csv");
    const result = await upload.result;
    expect(result.status).toBe(507);
    expect(JSON.parse(result.body).error).toMatchObject({ code: "disk_full" });
    const small = multipart(stack, cookie, 1 * MiB, "still-fits.csv");
    const ok = await small.result;
    expect(ok.status).toBe(201);
    const body = JSON.parse(ok.body) as { id: string; sha256: string };
    expect(body.sha256).toBe(small.sha256());
    await expectNothingLost(stack, new Map([[body.id, body.sha256]]));
  });
});
