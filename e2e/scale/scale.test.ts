import { createHash, randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { HEADER } from "@depot/contract";
import { verifyAuditChain } from "@depot/db";
import * as tus from "tus-js-client";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { testS3 } from "../../apps/storage/src/drivers/s3.testing";
import { controlledUpload, type FaultStack, startFaultStack } from "../faults/harness";

/**
 * The scale-out topology under load: two storage replicas on one RGW bucket and two web replicas, each tier behind
 * HAProxy, one PostgreSQL. 64 uploads at once, half multipart and half tus, while one storage replica and then one
 * web replica are SIGKILLed and started again. Every upload must end stored with its own sha256: a multipart upload
 * that failed is sent again (that is all a client can do), a tus upload resumes from the acknowledged offset.
 */
const MiB = 1024 * 1024;
const UPLOADS = 64;
const CLEANUP_INTERVAL_S = 6;
const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");

let stack: FaultStack;
let cookie: string;
beforeAll(async () => {
  const s3 = testS3();
  if (!s3.endpoint) throw new Error("the scale suite needs the run's RADOS Gateway (scale/vitest.config.ts)");
  stack = await startFaultStack({
    replicas: { web: 2, storage: 2 },
    storageEnv: {
      STORAGE_CONFIG: JSON.stringify({
        disks: { workspace: s3.disk({ prefix: `scale-${randomBytes(4).toString("hex")}/` }) },
      }),
      CLEANUP_INTERVAL_MINUTES: String(CLEANUP_INTERVAL_S / 60),
      SCHEDULE_TICK_SECONDS: "0.5",
      HEARTBEAT_INTERVAL_SECONDS: "1",
      DEPOT_LOG: "info",
    },
  });
  cookie = await stack.signIn();
});
afterAll(async () => {
  await stack?.stop();
});

interface Outcome {
  name: string;
  protocol: "multipart" | "tus";
  expected: string;
  stored: string | null;
  /** Multipart: whole uploads sent again after a failure. tus: resumes after a failed request. */
  retries: number;
  errors: string[];
  /** tus: every answer, in order, for the failure message. */
  trace: string[];
}

async function multipartUpload(data: Buffer, name: string): Promise<Outcome> {
  const outcome: Outcome = {
    name,
    protocol: "multipart",
    expected: sha256(data),
    stored: null,
    retries: 0,
    errors: [],
    trace: [],
  };
  for (let attempt = 0; attempt < 5 && outcome.stored === null; attempt++) {
    if (attempt > 0) {
      outcome.retries++;
      await sleep(500 * attempt);
    }
    const upload = controlledUpload({
      url: `${stack.webUrl}/api/uploads`,
      headers: { cookie },
      size: data.length,
      data,
      multipart: { fields: { cohortId: stack.cohortId, kind: "submission" }, filename: name },
    });
    const result = await upload.result;
    if (result.status === 200 || result.status === 201) {
      outcome.stored = (JSON.parse(result.body) as { sha256: string }).sha256;
    } else {
      // A failure must be a clear one: a status with Depot's error shape, or a dropped connection.
      if (result.status !== null) expect(JSON.parse(result.body)).toHaveProperty("error.code");
      outcome.errors.push(String(result.status ?? result.error));
    }
  }
  return outcome;
}

function tusUpload(data: Buffer, name: string): Promise<Outcome> {
  const outcome: Outcome = {
    name,
    protocol: "tus",
    expected: sha256(data),
    stored: null,
    retries: 0,
    errors: [],
    trace: [],
  };
  return new Promise((resolve) => {
    const upload = new tus.Upload(data, {
      endpoint: `${stack.webUrl}/api/uploads/tus/`,
      headers: { cookie },
      metadata: { cohortId: stack.cohortId, kind: "submission", filename: name },
      chunkSize: 4 * MiB,
      retryDelays: [250, 500, 1000, 2000, 3000, 5000, 8000],
      onShouldRetry: (error) => {
        outcome.retries++;
        outcome.errors.push(
          `${error.originalResponse?.getStatus() ?? "connection"} ${error.originalResponse?.getBody()?.slice(0, 120) ?? ""}`.trim(),
        );
        const status = error.originalResponse?.getStatus() ?? 0;
        return status === 0 || status >= 500 || status === 409 || status === 423;
      },
      onAfterResponse: (req, res) => {
        outcome.trace.push(`${req.getMethod()} ${res.getStatus()} at ${res.getHeader("Upload-Offset")}`);
        outcome.stored = res.getHeader("X-Depot-Sha256") ?? outcome.stored;
      },
      onSuccess: () => resolve(outcome),
      onError: (error) => {
        outcome.errors.push(`gave up: ${error.message.split("\n")[0]}`);
        resolve(outcome);
      },
    });
    upload.start();
  });
}

const histogram = (outcomes: Outcome[]) =>
  outcomes
    .flatMap((o) => o.errors.map((e) => `${o.protocol} ${e}`))
    .reduce<Record<string, number>>((counts, e) => Object.assign(counts, { [e]: (counts[e] ?? 0) + 1 }), {});

/** Every distinct claim of the cleanup job while the test runs, with the replica that made it. */
function watchCleanupClaims() {
  const claims = new Map<string, string>();
  let watching = true;
  const done = (async () => {
    while (watching) {
      const [row] = await stack.sql<{ started: string; replica: string }[]>`
        select to_char(last_started_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS') as started,
               last_replica as replica
        from scheduled_job_runs where job = 'cleanup'`.catch(() => []);
      if (row) claims.set(row.started, row.replica);
      await sleep(200);
    }
  })();
  return {
    async stop() {
      watching = false;
      await done;
      return [...claims].map(([started, replica]) => ({ at: Date.parse(`${started}Z`), replica }));
    },
  };
}

describe("two web and two storage replicas behind HAProxy on RGW", () => {
  test("64 mixed uploads survive a SIGKILL of one storage and one web replica; nothing is lost; cleanup runs once per interval", async () => {
    const claims = watchCleanupClaims();
    const startedAt = Date.now();
    const files = Array.from({ length: UPLOADS }, (_, i) => {
      const tus = i % 2 === 1;
      const size = tus ? (6 + (i % 13)) * MiB + i : (1 + (i % 8)) * MiB + i;
      return { name: `scale-${i}-${tus ? "tus" : "multipart"}.csv`, data: randomBytes(size), tus };
    });
    let finished = 0;
    const all = Promise.all(
      files.map((f) =>
        (f.tus ? tusUpload(f.data, f.name) : multipartUpload(f.data, f.name)).finally(() => {
          finished++;
        }),
      ),
    );

    const [storage1] = stack.replicas.storage;
    const [web1] = stack.replicas.web;
    await sleep(1_500);
    const inFlightAtStorageKill = UPLOADS - finished;
    await storage1!.kill();
    await sleep(3_000);
    await storage1!.start();
    await sleep(1_000);
    const inFlightAtWebKill = UPLOADS - finished;
    await web1!.kill();
    await sleep(3_000);
    await web1!.start();
    const outcomes = await all;
    const uploadsMs = Date.now() - startedAt;
    // At least two more cleanup intervals with both replicas up, so the schedule is seen after the kills too.
    await sleep(2 * CLEANUP_INTERVAL_S * 1000 + 1_000);
    const cleanupClaims = await claims.stop();
    // Runs finished by now were all claimed while the claims were watched; later ones (the checks below take longer
    // than an interval) are not compared.
    const finishedRuns = stack.logs.filter((l) => l.includes("scheduled cleanup finished")).length;
    const watchedMs = Date.now() - startedAt;

    const failed = outcomes.filter((o) => o.errors.length > 0);
    console.log(
      `scale: ${UPLOADS} uploads (${(files.reduce((n, f) => n + f.data.length, 0) / MiB) | 0} MiB) in ${(uploadsMs / 1000).toFixed(1)} s; ` +
        `in flight at the storage kill ${inFlightAtStorageKill}, at the web kill ${inFlightAtWebKill}; ` +
        `${failed.length} met a failure (${failed.filter((o) => o.protocol === "multipart").length} multipart sent again ` +
        `${failed.filter((o) => o.protocol === "multipart").reduce((n, o) => n + o.retries, 0)} times, ` +
        `${failed.filter((o) => o.protocol === "tus").length} tus resumed ${failed.filter((o) => o.protocol === "tus").reduce((n, o) => n + o.retries, 0)} times); ` +
        `cleanup ran ${cleanupClaims.length} times in ${(watchedMs / 1000).toFixed(1)} s at a ${CLEANUP_INTERVAL_S} s interval ` +
        `(${[...new Set(cleanupClaims.map((c) => c.replica))].join(", ")}); failures seen: ${JSON.stringify(histogram(outcomes))}`,
    );

    // The premise: the kills hit uploads in flight, and some of them noticed.
    expect(inFlightAtStorageKill).toBeGreaterThan(0);
    expect(inFlightAtWebKill).toBeGreaterThan(0);
    expect(failed.length).toBeGreaterThan(0);

    for (const o of outcomes) expect(o.stored, `${o.name}: ${[...o.errors, ...o.trace].join("; ")}`).toBe(o.expected);
    const rows = await stack.sql<{ original_name: string; sha256: string }[]>`
      select original_name, sha256 from files where status = 'stored'`;
    for (const o of outcomes) {
      expect(rows.filter((r) => r.original_name === o.name).map((r) => r.sha256)).toContain(o.expected);
    }

    // Nothing lost or corrupt: every stored object read back and hashed, no untracked objects, a valid chain.
    await stack.cleanupEverything();
    const integrity = await fetch(`${stack.servicesUrl}/internal/storage/verify_integrity?check_hashes=1`, {
      method: "POST",
      headers: { [HEADER.apiKey]: stack.apiKey },
    }).then((r) => r.json() as Promise<{ ok: boolean; checkedFiles: number; problems: unknown[] }>);
    expect(integrity.problems).toEqual([]);
    expect(integrity).toMatchObject({ ok: true });
    expect(integrity.checkedFiles).toBeGreaterThanOrEqual(UPLOADS);
    expect(await verifyAuditChain(stack.db)).toMatchObject({ ok: true });

    // Once per interval across both replicas: claims at least an interval apart, and none skipped for long.
    const times = cleanupClaims.map((c) => c.at).sort((a, b) => a - b);
    for (let i = 1; i < times.length; i++)
      expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(CLEANUP_INTERVAL_S * 1000);
    expect(times.length).toBeGreaterThanOrEqual(Math.floor(watchedMs / (CLEANUP_INTERVAL_S * 1000)) - 2);
    expect(finishedRuns).toBeLessThanOrEqual(times.length);

    // Both storage replicas are back and visible through the web's health.
    const health = await fetch(`${stack.webUrl}/health`, { headers: { [HEADER.apiKey]: stack.apiKey } }).then(
      (r) => r.json() as Promise<{ replicas: { role: string; alive: boolean }[] }>,
    );
    expect(health.replicas.filter((r) => r.role === "services" && r.alive)).toHaveLength(2);
  });
});
