import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { json, startTestStorage, TEST_API_KEY } from "../test-server";

const MiB = 1024 * 1024;
const DISK_BYTES = 8 * MiB;

function mountTmpfs(mountpoint: string): void {
  execFileSync("mount", ["-t", "tmpfs", "-o", `size=${DISK_BYTES}`, "tmpfs", mountpoint], { stdio: "pipe" });
}

function unmount(mountpoint: string): void {
  try {
    execFileSync("umount", [mountpoint], { stdio: "pipe" });
  } catch {
    // A handle still open somewhere keeps the mount busy; detach it so the folder can go.
    execFileSync("umount", ["-l", mountpoint], { stdio: "pipe" });
  }
}

/** Why a small tmpfs cannot be mounted here (not root, no CAP_SYS_ADMIN, no mount binary), or undefined if it can. */
function whyTmpfsCannotBeMounted(): string | undefined {
  if (process.platform !== "linux") return `tmpfs mounts need Linux, this is ${process.platform}`;
  if (process.getuid?.() !== 0) return "mounting a tmpfs needs root";
  const probe = mkdtempSync(join(tmpdir(), "depot-tmpfs-probe-"));
  try {
    mountTmpfs(probe);
    unmount(probe);
    return undefined;
  } catch (error) {
    const stderr = String((error as { stderr?: Buffer }).stderr ?? "")
      .replace(/\s+/g, " ")
      .trim();
    return `mount -t tmpfs failed: ${stderr || (error as Error).message}`;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}

const cannotMount = whyTmpfsCannotBeMounted();
if (cannotMount) console.warn(`disk-full tests skipped: ${cannotMount}`);

describe.skipIf(cannotMount !== undefined)("a full disk", () => {
  let mountpoint: string;
  let mounted = false;
  let storage: Awaited<ReturnType<typeof startTestStorage>> | undefined;

  beforeAll(async () => {
    mountpoint = mkdtempSync(join(tmpdir(), "depot-full-disk-"));
    mountTmpfs(mountpoint);
    mounted = true;
    storage = await startTestStorage({ env: { NAS_WORKSPACE_PATH: mountpoint } });
  });

  afterAll(async () => {
    await storage?.stop();
    if (mounted) unmount(mountpoint);
    if (mountpoint) rmSync(mountpoint, { recursive: true, force: true });
  });

  const upload = (key: string, body: Buffer, requestId: string) =>
    fetch(`${storage!.url}/internal/storage/upload?${new URLSearchParams({ disk: "workspace", key })}`, {
      method: "POST",
      headers: { "x-api-key": TEST_API_KEY, "x-request-id": requestId },
      body,
    });

  test("an upload larger than the free space is refused with 507 disk_full, leaves nothing and is audited", async () => {
    const res = await upload("full/too-big", randomBytes(20 * MiB), "req-disk-full");
    expect(res.status).toBe(507);
    expect((await json(res)).error.code).toBe("disk_full");

    expect(readdirSync(mountpoint)).toEqual([".tmp"]);
    expect(readdirSync(join(mountpoint, ".tmp"))).toEqual([]);

    const rows = await storage!.db.execute<{ action: string; outcome: string; error: string | null; bytes: number }>(
      sql`select action, outcome, error, bytes::int as bytes from phi_file_tracking where request_id = 'req-disk-full'`,
    );
    expect(rows.map((row) => [row.action, row.outcome, row.error])).toEqual([
      ["stream_upload", "failure", "disk_full"],
    ]);
  });

  test("the service keeps serving once the failed upload's space is freed", async () => {
    const small = randomBytes(1024);
    const res = await upload("full/small", small, "req-after-full");
    expect(res.status).toBe(201);
    expect(await json(res)).toMatchObject({ key: "full/small", size: small.length });

    const health = await fetch(`${storage!.url}/internal/storage/health`, { headers: { "x-api-key": TEST_API_KEY } });
    expect(health.status).toBe(200);
    expect(await json(health)).toMatchObject({ status: "ok" });
  });
});
