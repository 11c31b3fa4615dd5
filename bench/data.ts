/**
 * `pnpm bench:data [--rows 1000000] [--files 100000] [--samples 30]`: years of data stay fast. Builds a large
 * database (20 cohorts, 200 users, --files file rows, --rows hash-chained audit rows written through the documented
 * bulk path appendAuditBatch, whose chain audit:verify accepts), starts the storage service and the web app on it,
 * then measures p50 / p95 of the pages and APIs people use, the CSV export of the whole trail (rows/s and the web's
 * RSS growth), a full audit:verify and one from its checkpoint (rows/s), and the append function's throughput at
 * that depth against an empty trail (alternating rounds, same server), and EXPLAIN ANALYZE of the statements behind
 * the pages. Writes bench/results/data.json (the plans' text in its details).
 * Uses DATABASE_URL's server when set (fresh databases, dropped at the end), otherwise a throwaway embedded
 * PostgreSQL. Not a test: it prints figures. Everything it starts or writes goes away at the end, on failure and on
 * Ctrl-C too.
 */
import { createHash, randomUUID } from "node:crypto";
import { join } from "node:path";
import {
  appendAudit,
  appendAuditBatch,
  auditConditions,
  auditPageQuery,
  type BulkAuditRow,
  COUNT_CAP,
  cappedCountQuery,
  cohortMemberships,
  ensureCohort,
  type FileFilters,
  fileConditions,
  fileListQuery,
  files,
  hashPassword,
  lastMaintenanceRuns,
  phiFileTracking,
  recentFilesOf,
  users,
} from "@depot/db";
import { createTestDatabase, TEST_ADMIN_URL_ENV } from "@depot/db/testing";
import { repoRoot, signIn } from "../scripts/stack";
import {
  figure,
  MiB,
  numericOptions,
  percentile,
  runBenchmark,
  runJson,
  seededRandom,
  serverRss,
  withDb,
  workFolder,
  writeResult,
} from "./lib";
import { type DepotStack, startDepot } from "./stack";

const USAGE = "Usage: pnpm bench:data [--rows 1000000] [--files 100000] [--samples 30]";
const options = numericOptions({ rows: 1_000_000, files: 100_000, samples: 30 }, USAGE);
const [AUDIT_ROWS, FILE_ROWS, SAMPLES] = [options.rows, options.files, options.samples];
const COHORTS = 20;
const USERS = 200;
const SPAN_MS = 6 * 365 * 24 * 3600_000;
const BULK_BATCH = 5000;
const APPENDS_PER_ROUND = 1500;
const APPEND_CONCURRENCY = 4;
const USER_PASSWORD = "bench-user-password";

const random = seededRandom(0x2545f491);
const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
const hex = (text: string) => createHash("sha256").update(text).digest("hex");

type Built = Awaited<ReturnType<typeof buildData>>;
type Ids = { userIds: string[]; fileIds: string[]; fileCohort: Map<string, string> };

/** Actions in their proportions: of every 8, 2 uploads and 3 downloads. */
const ACTIONS = [
  ...["stream_upload", "stream_upload", "stream_download", "stream_download", "stream_download"],
  ...["chunked_upload_completed", "file_deleted", "access_denied"],
] as const;

/** Audit row `i` of the generated trail: a random action by a random user on a random file. */
function auditRow(i: number, occurredAt: Date, { userIds, fileIds, fileCohort }: Ids): BulkAuditRow {
  const action = pick(ACTIONS);
  const fileId = pick(fileIds);
  const denied = action === "access_denied";
  return {
    occurredAt,
    action,
    outcome: denied ? "denied" : random() < 0.03 ? "failure" : "success",
    serverRole: i % 2 ? "services" : "web",
    hostname: "bench-host",
    requestId: `req-${(i >> 1).toString(36)}`,
    actorUserId: pick(userIds),
    actorIp: `10.${i % 250}.${(i >> 8) % 250}.${(i >> 16) % 250}`,
    actorUserAgent: "Mozilla/5.0 (X11; Linux x86_64) bench",
    cohortId: fileCohort.get(fileId) ?? null,
    fileId,
    disk: "workspace",
    storageKey: `${fileCohort.get(fileId)}/2024/01/${fileId}`,
    bytes: denied ? null : Math.floor(random() * 50_000_000),
    sha256: action === "stream_upload" ? hex(`${i}`) : null,
    error: denied ? "forbidden" : null,
    metadata: denied ? { route: "download" } : { name: `file_${i}.csv`, kind: "submission" },
  };
}

const buildData = (stack: DepotStack) =>
  withDb(stack.databaseUrl, 4, async (conn) => {
    const timings: Record<string, number> = {};
    let t = Date.now();
    const cohortIds = [stack.cohortId];
    for (let i = 1; i < COHORTS; i++)
      cohortIds.push((await ensureCohort(conn.db, { name: `Cohort ${String(i).padStart(2, "0")}` })).cohort.id);
    const passwordHash = await hashPassword(USER_PASSWORD);
    const people = Array.from({ length: USERS }, (_, i) => ({
      id: randomUUID(),
      email: `bench-user-${String(i).padStart(3, "0")}@example.org`,
      name: `Bench user ${i}`,
      passwordHash,
    }));
    await conn.db.insert(users).values(people);
    const userIds = people.map((p) => p.id);
    await conn.db.insert(cohortMemberships).values(
      people.flatMap((p, i) => [
        { userId: p.id, cohortId: cohortIds[i % COHORTS] as string, role: "manager" as const },
        { userId: p.id, cohortId: cohortIds[(i + 7) % COHORTS] as string, role: "viewer" as const },
      ]),
    );
    timings.people = Date.now() - t;

    t = Date.now();
    const start = Date.now() - SPAN_MS;
    const fileIds: string[] = [];
    const fileCohort = new Map<string, string>();
    for (let offset = 0; offset < FILE_ROWS; offset += 2000) {
      const batch = Array.from({ length: Math.min(2000, FILE_ROWS - offset) }, (_, j) => {
        const i = offset + j;
        const id = randomUUID();
        const cohortId = pick(cohortIds);
        const createdAt = new Date(start + Math.floor((i / FILE_ROWS) * SPAN_MS));
        const kind = random() < 0.8 ? ("submission" as const) : ("precheck" as const);
        const roll = random();
        const status = roll < 0.9 ? "stored" : roll < 0.95 ? "deleted" : roll < 0.98 ? "failed" : "uploading";
        fileIds.push(id);
        fileCohort.set(id, cohortId);
        const month = `${createdAt.getUTCFullYear()}/${String(createdAt.getUTCMonth() + 1).padStart(2, "0")}`;
        return {
          id,
          cohortId,
          uploaderId: pick(userIds),
          originalName: `${pick(["visits", "labs", "meds", "dx", "art"])}_${i}.${pick(["csv", "tsv", "sas7bdat"])}`,
          contentType: "text/csv",
          size: status === "stored" ? Math.floor(random() * 50_000_000) : null,
          sha256: status === "stored" ? hex(id) : null,
          storageDisk: "workspace",
          storageKey: `${cohortId}/${month}/${id}`,
          kind,
          status: status as "stored" | "deleted" | "failed" | "uploading",
          expiresAt: kind === "precheck" ? new Date(createdAt.getTime() + 72 * 3600_000) : null,
          createdAt,
          completedAt: status === "stored" ? new Date(createdAt.getTime() + 5000) : null,
          deletedAt: status === "deleted" ? new Date(createdAt.getTime() + 86_400_000) : null,
        };
      });
      await conn.db.insert(files).values(batch);
    }
    timings.files = Date.now() - t;

    t = Date.now();
    for (let offset = 0; offset < AUDIT_ROWS; offset += BULK_BATCH) {
      const at = (i: number) => new Date(start + Math.floor((i / AUDIT_ROWS) * SPAN_MS));
      const ids = { userIds, fileIds, fileCohort };
      const batch = Array.from({ length: Math.min(BULK_BATCH, AUDIT_ROWS - offset) }, (_, j) =>
        auditRow(offset + j, at(offset + j), ids),
      );
      await appendAuditBatch(conn.db, batch);
      if ((offset / BULK_BATCH) % 40 === 39)
        console.log(`   ${offset + batch.length} audit rows (${((Date.now() - t) / 1000).toFixed(0)} s)`);
    }
    timings.audit = Date.now() - t;
    t = Date.now();
    // What autovacuum would have done by now on a database that grew over years.
    await conn.sql`vacuum analyze`;
    timings.analyze = Date.now() - t;
    return { cohortIds, userIds, memberEmail: people[0]?.email ?? "", fileIds, fileCohort, start, timings };
  });

async function timedGet(stack: DepotStack, path: string, cookie: string): Promise<number> {
  const t = performance.now();
  const res = await fetch(`${stack.webUrl}${path}`, { headers: { cookie }, redirect: "manual" });
  const body = await res.text();
  const ms = performance.now() - t;
  if (res.status !== 200) throw new Error(`GET ${path} answered ${res.status}: ${body.slice(0, 200)}`);
  return ms;
}

type Latency = Awaited<ReturnType<typeof measureLatencies>>[number];

async function measureLatencies(stack: DepotStack, built: Built) {
  const memberCookie = await signIn(stack.webUrl, { email: built.memberEmail, password: USER_PASSWORD });
  const busyFile = await busiestFile(stack, built);
  const cohort = built.cohortIds[3] ?? "";
  const user = built.userIds[42] ?? "";
  const from = new Date(built.start + SPAN_MS * 0.4);
  const to = new Date(from.getTime() + 30 * 86_400_000);
  const day = (d: Date) => d.toISOString().slice(0, 10);
  const admin = (name: string, path: string) => ({ name, path, cookie: stack.cookie, as: "administrator" });
  const endpoints = [
    admin("/dashboard", "/dashboard"),
    admin("/files, first page", "/files"),
    admin("/files, filtered (cohort, kind)", `/files?cohortId=${cohort}&kind=submission`),
    admin("/files, page 500", "/files?page=500"),
    { name: "/files, first page", path: "/files", cookie: memberCookie, as: "member of 2 cohorts" },
    admin("/audit, first page", "/audit"),
    admin("/audit, by file", `/audit?fileId=${busyFile}`),
    admin("/audit, by user", `/audit?userId=${user}`),
    admin("/audit, by date range (30 days)", `/audit?from=${day(from)}&to=${day(to)}`),
    admin("/api/files", "/api/files"),
    admin("/api/audit", "/api/audit"),
  ];
  for (const e of endpoints) for (let i = 0; i < 3; i++) await timedGet(stack, e.path, e.cookie);
  const samples = endpoints.map(() => [] as number[]);
  // Round robin, so a noisy moment on the shared machine spreads over every endpoint alike.
  for (let round = 0; round < SAMPLES; round++)
    for (const [i, e] of endpoints.entries()) samples[i]?.push(await timedGet(stack, e.path, e.cookie));
  return endpoints.map(({ name, path, as }, i) => {
    const ms = samples[i] ?? [];
    const [p50, p95] = [percentile(ms, 50) ?? Number.NaN, percentile(ms, 95) ?? Number.NaN];
    return { name, path, as, p50, p95, max: Math.max(0, ...ms) };
  });
}

const busiestFile = (stack: DepotStack, built: Built) =>
  withDb(stack.databaseUrl, 1, async ({ sql }) => {
    const [row] = await sql<{ file_id: string }[]>`
      select file_id from phi_file_tracking where file_id = any(${built.fileIds.slice(0, 200)}::uuid[])
      group by file_id order by count(*) desc limit 1`;
    return row?.file_id ?? built.fileIds[0] ?? "";
  });

async function measureExport(stack: DepotStack) {
  await stack.restartWeb();
  await timedGet(stack, "/api/audit?pageSize=1", stack.cookie);
  const before = await serverRss(stack.webPid(), "VmRSS");
  let peak = before;
  const sample = async () => {
    const rss = await serverRss(stack.webPid(), "VmRSS").catch(() => 0);
    peak = Math.max(peak, rss);
  };
  const sampler = setInterval(() => void sample(), 100);
  const t = performance.now();
  let bytes = 0;
  let lines = 0;
  try {
    const res = await fetch(`${stack.webUrl}/api/audit/export`, { headers: { cookie: stack.cookie } });
    if (res.status !== 200 || !res.body) throw new Error(`the export answered ${res.status}`);
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      bytes += chunk.length;
      // indexOf, not a loop in JavaScript over every byte: the client shares the two cores with the web.
      for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++;
    }
  } finally {
    clearInterval(sampler);
  }
  const ms = performance.now() - t;
  peak = Math.max(peak, await serverRss(stack.webPid(), "VmRSS"));
  const rows = lines - 1;
  return { rows, bytes, ms, rowsPerS: rows / (ms / 1000), rssBefore: before, rssPeak: peak, growth: peak - before };
}

async function cliVerify(stack: DepotStack, extra: string[]) {
  const script = join(repoRoot, "packages/db/src/cli/audit-verify.ts");
  const env = { DATABASE_URL: stack.databaseUrl, INTERNAL_API_KEY: stack.apiKey };
  const run = await runJson<{ ok: boolean; rows: number }>("audit:verify", [script, "--json", ...extra], env, 600_000);
  if (run.code !== 0 || !run.json.ok)
    throw new Error(`audit:verify ${extra.join(" ")} failed: ${JSON.stringify(run.json)}`);
  return { rows: run.json.rows, ms: run.ms, rowsPerS: run.json.rows / (run.ms / 1000) };
}

async function measureVerify(stack: DepotStack, built: Built) {
  const full = await cliVerify(stack, []);
  const firstCheckpoint = await cliVerify(stack, ["--since-checkpoint"]);
  // A day's worth of new rows, then the incremental run the schedule would make.
  const now = new Date();
  const rows = Array.from({ length: 10_000 }, (_, i) => auditRow(AUDIT_ROWS + i, now, built));
  await withDb(stack.databaseUrl, 1, ({ db }) => appendAuditBatch(db, rows));
  const incremental = await cliVerify(stack, ["--since-checkpoint"]);
  return { full, firstCheckpoint, incremental };
}

const appendRound = (url: string) =>
  withDb(url, APPEND_CONCURRENCY, async (conn) => {
    const t = performance.now();
    await Promise.all(
      Array.from({ length: APPEND_CONCURRENCY }, async (_, w) => {
        for (let i = 0; i < APPENDS_PER_ROUND / APPEND_CONCURRENCY; i++)
          await appendAudit(conn.db, {
            action: "stream_download",
            outcome: "success",
            serverRole: "web",
            requestId: `append-${w}-${i}`,
            actor: { ip: "10.1.1.1" },
            bytes: i,
            metadata: { worker: w },
          });
      }),
    );
    return APPENDS_PER_ROUND / ((performance.now() - t) / 1000);
  });

async function measureAppends(stack: DepotStack) {
  // The empty trail lives on the same server: DATABASE_URL's, or else the stack's embedded one.
  process.env[TEST_ADMIN_URL_ENV] ??= stack.databaseUrl;
  const empty = await createTestDatabase();
  try {
    const rates = { empty: [] as number[], full: [] as number[] };
    await appendRound(empty.url); // warm-up of both paths
    for (let round = 0; round < 2; round++) {
      rates.empty.push(await appendRound(empty.url));
      rates.full.push(await appendRound(stack.databaseUrl));
    }
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    return { empty: mean(rates.empty), full: mean(rates.full), ratio: mean(rates.full) / mean(rates.empty), rates };
  } finally {
    await empty.drop();
  }
}

async function queryPlans(stack: DepotStack, built: Built) {
  const busyFile = await busiestFile(stack, built);
  return withDb(stack.databaseUrl, 1, async ({ db, sql }) => {
    const from = new Date(built.start + SPAN_MS * 0.4);
    const to = new Date(from.getTime() + 30 * 86_400_000 + 86_399_999);
    const base: FileFilters = { cohortIds: null, limit: 25, offset: 0 };
    const member: FileFilters = { ...base, cohortIds: [built.cohortIds[0] ?? "", built.cohortIds[7] ?? ""] };
    const filtered: FileFilters = { ...base, cohortId: built.cohortIds[3], kind: "submission" };
    const page500: FileFilters = { ...base, offset: 499 * 25 };
    const audit = (f: Parameters<typeof auditPageQuery>[1]) => ({
      page: auditPageQuery(db, { ...f, limit: 50 }),
      count: cappedCountQuery(db, phiFileTracking, auditConditions(f)),
    });
    const queries: { name: string; query: { toSQL(): { sql: string; params: unknown[] } } }[] = [
      { name: "audit page, newest 50", query: audit({}).page },
      { name: "audit count (capped), no filter", query: audit({}).count },
      { name: "audit page, by file", query: audit({ fileId: busyFile }).page },
      { name: "audit page, by user", query: audit({ userId: built.userIds[42] }).page },
      { name: "audit count (capped), by user", query: audit({ userId: built.userIds[42] }).count },
      { name: "audit page, 30-day range", query: audit({ from, to }).page },
      { name: "audit count (capped), 30-day range", query: audit({ from, to }).count },
      { name: "audit page 2000 by keyset (before)", query: audit({ before: BigInt(AUDIT_ROWS / 2) }).page },
      { name: "files page 1", query: fileListQuery(db, base) },
      { name: "files count (capped)", query: cappedCountQuery(db, files, fileConditions(base)) },
      { name: "files filtered", query: fileListQuery(db, filtered) },
      { name: "files page 500", query: fileListQuery(db, page500) },
      {
        name: "files count (capped, page 500)",
        query: cappedCountQuery(db, files, fileConditions(page500), Math.max(COUNT_CAP, 500 * 25)),
      },
      { name: "files page 1, member of 2 cohorts", query: fileListQuery(db, member) },
      { name: "dashboard: last cleanup runs", query: lastMaintenanceRuns(db, "cleanup_run") },
      { name: "dashboard: recent files of a user", query: recentFilesOf(db, built.userIds[5] ?? "") },
    ];
    const plans: { name: string; ms: number; text: string }[] = [];
    for (const q of queries) {
      const { sql: text, params } = q.query.toSQL();
      let rows: { "QUERY PLAN": string }[] = [];
      for (let i = 0; i < 3; i++) rows = await sql.unsafe(`explain (analyze, buffers) ${text}`, params as never[]);
      const plan = rows.map((r) => r["QUERY PLAN"]).join("\n");
      const ms = Number(/Execution Time: ([\d.]+) ms/.exec(plan)?.[1] ?? Number.NaN);
      plans.push({ name: q.name, ms, text: plan });
    }
    return plans.sort((a, b) => b.ms - a.ms);
  });
}

async function main() {
  if (!(AUDIT_ROWS >= 1000 && FILE_ROWS >= 1000 && SAMPLES >= 5))
    throw new Error(`--rows, --files >= 1000, --samples >= 5\n${USAGE}`);
  const workDir = await workFolder("depot-bench-data-");
  console.log(`bench:data: ${AUDIT_ROWS} audit rows, ${FILE_ROWS} files, ${SAMPLES} samples per endpoint`);
  const stack = await startDepot(workDir, {
    // The benchmark runs the verification itself; nothing else on a schedule competes with the measurements.
    storageEnv: { AUDIT_VERIFY_INTERVAL_MINUTES: "0", INTEGRITY_INTERVAL_MINUTES: "0" },
  });
  console.log("1. building the data");
  const built = await buildData(stack);
  console.log("2. append throughput: empty trail vs the full one");
  const appends = await measureAppends(stack);
  console.log("3. page and API latency");
  const latencies = await measureLatencies(stack, built);
  console.log("4. CSV export of the whole trail");
  const exported = await measureExport(stack);
  console.log("5. audit:verify");
  const verify = await measureVerify(stack, built);
  console.log("6. query plans");
  const plans = await queryPlans(stack, built);

  const worst = latencies.reduce((a, b) => (b.p95 > a.p95 ? b : a));
  const p95 = (l: Latency) => figure(`data.p95.${l.path}.${l.as}`, `${l.name} (${l.as}), p95`, "ms", l.p95);
  const worstText = `worst p95 of the pages and APIs (${worst.name})`;
  await writeResult(
    "data",
    [
      figure("data.p95.worst", worstText, "ms", worst.p95, { goal: "value <= 300" }),
      figure("data.export", `CSV export of the whole trail (${exported.rows} rows)`, "rows/s", exported.rowsPerS, {
        goal: "value >= 50000",
      }),
      figure("data.export.rss", "web RSS growth during the export", "MiB", exported.growth / MiB, {
        goal: "value <= 64",
      }),
      figure("data.verify", `full pnpm audit:verify (${verify.full.rows} rows)`, "rows/s", verify.full.rowsPerS, {
        goal: "value >= 100000",
      }),
      figure("data.append", `audit appends at ${AUDIT_ROWS} rows`, "appends/s", appends.full, {
        vs: ["an empty trail, same server", appends.empty],
        goal: "ratio >= 0.9",
      }),
      figure(
        "data.verify.incremental",
        "audit:verify --since-checkpoint after 10,000 rows more",
        "ms",
        verify.incremental.ms,
      ),
      ...latencies.map(p95),
      ...plans.map((p) => figure(`data.plan.${p.name}`, `EXPLAIN ANALYZE: ${p.name}`, "ms", p.ms)),
    ],
    { built: { timings: built.timings }, latencies, exported, verify, appends, plans },
    { rows: AUDIT_ROWS, files: FILE_ROWS, samples: SAMPLES, cohorts: COHORTS, users: USERS },
  );
}

runBenchmark("bench:data", main);
