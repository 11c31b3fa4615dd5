import { createHash, randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { testS3 } from "../../apps/storage/src/drivers/s3.testing";
import { type FaultStack, startFaultStack } from "../faults/harness";

/**
 * One tus upload, two storage replicas, two webs, one database: web-1 talks to storage-1 and web-2 to storage-2,
 * so two PATCHes at one offset sent to the two webs are written by two different replicas. The shared PostgreSQL
 * lock must let exactly one of them write; the upload then finishes with one body's bytes and never a mix.
 */
const KiB = 1024;
const TRIALS = 32;
const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");
const TUS = { "tus-resumable": "1.0.0" };

interface Answer {
  status: number;
  offset: number | null;
  sha256: string | null;
}

/** A PATCH written in pieces with pauses, so that two of them overlap in time. */
function slowPatch(url: string, cookie: string, offset: number, body: Buffer, pieces = 8, delayMs = 15) {
  return new Promise<Answer>((resolve) => {
    const req = request(
      url,
      {
        method: "PATCH",
        headers: {
          ...TUS,
          cookie,
          "content-type": "application/offset+octet-stream",
          "upload-offset": String(offset),
          "content-length": String(body.length),
        },
      },
      (res) => {
        res.resume();
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            offset: res.headers["upload-offset"] ? Number(res.headers["upload-offset"]) : null,
            sha256: (res.headers["x-depot-sha256"] as string | undefined) ?? null,
          }),
        );
      },
    );
    req.on("error", () => resolve({ status: 0, offset: null, sha256: null }));
    void (async () => {
      const size = Math.ceil(body.length / pieces);
      for (let start = 0; start < body.length && !req.destroyed; start += size) {
        if (!req.write(body.subarray(start, start + size))) await new Promise((r) => req.once("drain", r));
        await sleep(delayMs);
      }
      req.end();
    })();
  });
}

function replicaPair(stack: FaultStack) {
  const [web1, web2] = stack.replicas.web;
  if (!web1 || !web2) throw new Error("two web replicas expected");
  return [web1.url, web2.url] as const;
}

async function createUpload(stack: FaultStack, webUrl: string, cookie: string, length: number, name: string) {
  const res = await fetch(`${webUrl}/api/uploads/tus/`, {
    method: "POST",
    headers: {
      ...TUS,
      cookie,
      "upload-length": String(length),
      "upload-metadata": [
        `cohortId ${Buffer.from(stack.cohortId).toString("base64")}`,
        `kind ${Buffer.from("submission").toString("base64")}`,
        `filename ${Buffer.from(name).toString("base64")}`,
      ].join(","),
    },
  });
  await res.arrayBuffer();
  expect(res.status).toBe(201);
  return new URL(res.headers.get("location") ?? "", webUrl).pathname;
}

async function head(url: string, cookie: string): Promise<number> {
  const res = await fetch(url, { method: "HEAD", headers: { ...TUS, cookie } });
  expect(res.status).toBe(200);
  return Number(res.headers.get("upload-offset"));
}

async function download(webUrl: string, cookie: string, name: string, stack: FaultStack): Promise<Buffer> {
  const [row] = await stack.sql<{ id: string }[]>`select id::text from files where original_name = ${name}`;
  const res = await fetch(`${webUrl}/api/files/${row!.id}/download`, { headers: { cookie } });
  expect(res.status).toBe(200);
  return Buffer.from(await res.arrayBuffer());
}

/**
 * The race, TRIALS times: both webs PATCH offset 0 at once with different bodies. At most one is accepted; whatever
 * was kept is a prefix of one body (a PATCH the lock wound down keeps its bytes, tus's rule); the upload is finished
 * from there through the other web, and the stored file is that body plus the rest, with its sha256.
 */
async function raceTrials(stack: FaultStack) {
  const cookie = await stack.signIn();
  const [web1, web2] = replicaPair(stack);
  const tally = { oneAccepted: 0, noneAccepted: 0 };
  for (let trial = 0; trial < TRIALS; trial++) {
    const a = randomBytes(256 * KiB);
    const b = randomBytes(256 * KiB);
    const rest = randomBytes(1000 + trial);
    const name = `race-${trial}.csv`;
    const path = await createUpload(stack, web1, cookie, a.length + rest.length, name);
    const [ra, rb] = await Promise.all([
      slowPatch(`${web1}${path}`, cookie, 0, a),
      slowPatch(`${web2}${path}`, cookie, 0, b),
    ]);
    const accepted = [ra, rb].filter((r) => r.status === 204);
    expect(accepted.length, `trial ${trial}: ${JSON.stringify([ra, rb])}`).toBeLessThanOrEqual(1);
    for (const r of [ra, rb]) if (r.status !== 204) expect([0, 409, 423, 502]).toContain(r.status);

    const offset = await head(`${web2}${path}`, cookie);
    let body: Buffer;
    if (accepted.length === 1) {
      tally.oneAccepted++;
      body = accepted[0] === ra ? a : b;
      expect(offset).toBe(body.length);
    } else {
      tally.noneAccepted++;
      // Which body the kept prefix belongs to shows in the finished file; continue with a's, then check.
      body = a;
      expect(offset).toBeLessThanOrEqual(a.length);
    }
    const remainder = Buffer.concat([body, rest]).subarray(offset);
    const last = await slowPatch(`${trial % 2 ? web1 : web2}${path}`, cookie, offset, remainder, 1, 0);
    expect(last.status, `trial ${trial}: finishing PATCH`).toBe(204);
    const stored = await download(web1, cookie, name, stack);
    const candidates = [Buffer.concat([a, rest]), Buffer.concat([b, rest])];
    expect(
      candidates.some((c) => c.equals(stored)),
      `trial ${trial}: the stored file is one body plus the rest`,
    ).toBe(true);
    if (accepted.length === 1) expect(stored.equals(Buffer.concat([body, rest]))).toBe(true);
    expect(last.sha256).toBe(sha256(stored));
  }
  return tally;
}

/** storage-1 is SIGKILLed while it writes a PATCH; the upload is finished through web-2 and storage-2. */
async function killMidPatch(stack: FaultStack) {
  const cookie = await stack.signIn();
  const [web1, web2] = replicaPair(stack);
  const data = randomBytes(24 * 1024 * KiB);
  const name = "killed-mid-patch.csv";
  const path = await createUpload(stack, web1, cookie, data.length, name);
  const acknowledged = 8 * 1024 * KiB;
  expect((await slowPatch(`${web1}${path}`, cookie, 0, data.subarray(0, acknowledged), 1, 0)).status).toBe(204);
  const patching = slowPatch(`${web1}${path}`, cookie, acknowledged, data.subarray(acknowledged), 32, 40);
  await sleep(500);
  await stack.replicas.storage[0]!.kill();
  const cut = await patching;
  expect(cut.status === 0 || cut.status >= 500, JSON.stringify(cut)).toBe(true);
  // The dead replica's lock went with its database connection; the other replica takes over.
  const offset = await head(`${web2}${path}`, cookie);
  expect(offset).toBeGreaterThanOrEqual(acknowledged);
  expect(offset).toBeLessThan(data.length);
  const last = await slowPatch(`${web2}${path}`, cookie, offset, data.subarray(offset), 4, 0);
  expect(last.status).toBe(204);
  expect(last.sha256).toBe(sha256(data));
  expect((await download(web2, cookie, name, stack)).equals(data)).toBe(true);
  await stack.replicas.storage[0]!.start();
  return offset;
}

describe.each([{ disk: "one local folder shared by both replicas" }, { disk: "one RGW bucket" }])(
  "two webs and two storage replicas on $disk",
  ({ disk }) => {
    let stack: FaultStack;
    let shared: string | undefined;
    beforeAll(async () => {
      const storageEnv: Record<string, string> = {};
      if (disk.includes("RGW")) {
        const s3 = testS3();
        if (!s3.endpoint) throw new Error("this case needs the run's RADOS Gateway (scale/vitest.config.ts)");
        storageEnv.STORAGE_CONFIG = JSON.stringify({
          disks: { workspace: s3.disk({ prefix: `replicas-${randomBytes(4).toString("hex")}/` }) },
        });
      } else {
        shared = mkdtempSync(join(tmpdir(), "depot-shared-disk-"));
        chmodSync(shared, 0o755);
      }
      stack = await startFaultStack({
        replicas: { web: 2, storage: 2 },
        balancer: false,
        storageRoot: shared,
        storageEnv,
      });
    });
    afterAll(async () => {
      await stack?.stop();
      if (shared) rmSync(shared, { recursive: true, force: true });
    });

    test(`${TRIALS} trials of two concurrent PATCHes at one offset through different replicas: never both accepted, never a broken upload`, async () => {
      const tally = await raceTrials(stack);
      console.log(
        `${disk}: ${TRIALS} races, ${tally.oneAccepted} with one PATCH accepted, ${tally.noneAccepted} with none`,
      );
      expect(tally.oneAccepted + tally.noneAccepted).toBe(TRIALS);
    });

    test("a storage replica SIGKILLed mid-PATCH: the upload is finished through the other", async () => {
      const offset = await killMidPatch(stack);
      console.log(`${disk}: killed mid-PATCH, resumed on the other replica from ${offset} bytes`);
    });
  },
);
