import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { HEADER } from "@depot/contract";
import { isAlive } from "@depot/db/embedded";
import { createTestDatabase, type TestDatabase } from "@depot/db/testing";
import { afterAll, expect, test } from "vitest";
import { ADMIN, signIn } from "../../scripts/stack";
import { E2E_HARNESS_PORTS } from "../ports";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
const PORTS = E2E_HARNESS_PORTS;

interface ReadyReport {
  event: "ready";
  web: { url: string; pid: number; role: string; workDir: string; entries: number };
  services: { url: string; pid: number; role: string; workDir: string; diskRoot: string };
  database: { url: string; embedded: boolean; pid: number | null };
  dataDir: string;
  apiKeyFrom: string;
}

interface StoppedReport {
  event: "stopped";
  ok: boolean;
  leftPids: number[];
  webEntries: number;
  problems: string[];
}

/** `pnpm two-server --json` as a child process, its report lines collected as they come. */
function startHarness(env: NodeJS.ProcessEnv) {
  const child = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      "scripts/two-server.ts",
      "--web-port",
      String(PORTS.web),
      "--services-port",
      String(PORTS.services),
      "--json",
    ],
    { cwd: repoRoot, env, stdio: ["ignore", "pipe", "pipe"] },
  );
  const reports: { event: string }[] = [];
  createInterface({ input: child.stdout! }).on("line", (line) => reports.push(JSON.parse(line)));
  let stderr = "";
  child.stderr!.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString("utf8")).slice(-20_000);
  });
  // "close", not "exit": by then the last report line has been read too.
  const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));

  const report = async <T>(event: string, timeoutMs: number): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = reports.find((r) => r.event === event);
      if (found) return found as T;
      if (child.exitCode !== null || Date.now() > deadline) break;
      await sleep(100);
    }
    throw new Error(`no "${event}" report from two-server (exit code ${child.exitCode}); its stderr:\n${stderr}`);
  };
  return { child, exited, report };
}

function filesBelow(dir: string): { path: string; size: number }[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => !entry.isDirectory())
    .map((entry) => join(entry.parentPath, entry.name))
    .map((path) => ({ path, size: statSync(path).size }));
}

/** Through the public web server, as a person would: sign in, pick a cohort, upload one file. */
async function uploadThroughWeb(webUrl: string, data: Buffer) {
  const cookie = await signIn(webUrl, ADMIN);
  const cohorts = (await (await fetch(`${webUrl}/api/admin/cohorts`, { headers: { cookie } })).json()) as {
    cohorts: { id: string }[];
  };
  const form = new FormData();
  form.append("cohortId", cohorts.cohorts[0]?.id ?? "");
  form.append("kind", "submission");
  form.append("file", new Blob([new Uint8Array(data)]), "visits.csv");
  const upload = await fetch(`${webUrl}/api/uploads`, { method: "POST", headers: { cookie }, body: form });
  expect(upload.status).toBe(201);
  return (await upload.json()) as { size: number };
}

let harness: ReturnType<typeof startHarness> | undefined;
let database: TestDatabase | undefined;
afterAll(async () => {
  if (harness && harness.child.exitCode === null && harness.child.signalCode === null) {
    harness.child.kill("SIGTERM");
    await harness.exited;
  }
  await database?.drop();
});

test("two-server runs both servers in separate folders, keeps the web one empty and stops everything", async () => {
  const env: NodeJS.ProcessEnv = { ...process.env };
  // What `pnpm two-server` sees on a fresh shell: generated secrets, a disk root of its own, the default admin.
  for (const name of [
    "INTERNAL_API_KEY",
    "AUTH_SECRET",
    "STORAGE_CONFIG",
    "NAS_WORKSPACE_PATH",
    "NODE_ENV",
    "HOST",
    "PUBLIC_URL",
    "SEED_ADMIN_EMAIL",
    "SEED_ADMIN_PASSWORD",
  ]) {
    delete env[name];
  }
  if (process.env.DATABASE_URL) {
    database = await createTestDatabase();
    env.DATABASE_URL = database.url;
  } else {
    env.DEPOT_EMBEDDED_PG_PORT = String(PORTS.postgres);
  }
  harness = startHarness(env);
  const ready = await harness.report<ReadyReport>("ready", 90_000);

  expect(ready.web).toMatchObject({ url: `http://localhost:${PORTS.web}`, role: "web", entries: 0 });
  expect(ready.services).toMatchObject({ url: `http://127.0.0.1:${PORTS.services}`, role: "services" });
  expect(ready.web.workDir).not.toBe(ready.services.workDir);
  expect(ready.services.diskRoot.startsWith(`${ready.services.workDir}/`)).toBe(true);
  expect(ready.database.url).not.toContain(":postgres@");
  expect(readdirSync(ready.web.workDir)).toEqual([]);
  for (const pid of [ready.web.pid, ready.services.pid]) expect(isAlive(pid)).toBe(true);

  const postmasterPid = process.env.DATABASE_URL
    ? undefined
    : Number.parseInt(readFileSync(join(ready.dataDir, "postgres", "postmaster.pid"), "utf8").split("\n")[0] ?? "", 10);
  expect(ready.database.pid ?? undefined).toBe(postmasterPid);
  if (postmasterPid) expect(isAlive(postmasterPid)).toBe(true);

  const secrets = join(ready.dataDir, "secrets.json");
  expect(ready.apiKeyFrom).toBe(secrets);
  const { apiKey } = JSON.parse(readFileSync(secrets, "utf8")) as { apiKey: string };
  const health = `${ready.services.url}/internal/storage/health`;
  expect((await fetch(health, { headers: { [HEADER.apiKey]: apiKey } })).status).toBe(200);
  expect((await fetch(health)).status).toBe(401);
  expect((await fetch(`${ready.web.url}/login`)).status).toBe(200);

  const data = Buffer.from("patient,visit\n1,2026-01-01\n".repeat(1000));
  const stored = await uploadThroughWeb(ready.web.url, data);
  expect(stored.size).toBe(data.length);
  expect(filesBelow(ready.services.diskRoot).map((f) => f.size)).toEqual([data.length]);
  expect(readdirSync(ready.web.workDir)).toEqual([]);

  harness.child.kill("SIGTERM");
  expect(await harness.exited).toBe(0);
  const stopped = await harness.report<StoppedReport>("stopped", 0);
  expect(stopped).toMatchObject({ ok: true, leftPids: [], webEntries: 0, problems: [] });
  for (const pid of [ready.web.pid, ready.services.pid, ...(postmasterPid ? [postmasterPid] : [])]) {
    expect(isAlive(pid), `pid ${pid} is still alive`).toBe(false);
  }
  expect(existsSync(ready.web.workDir)).toBe(false);
});
