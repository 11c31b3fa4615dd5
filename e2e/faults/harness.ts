import type { ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createDb, ensureCohort, seed } from "@depot/db";
import { type EmbeddedPostgresHandle, ensureDatabase, startEmbeddedPostgres } from "@depot/db/embedded";
import { runMigrations } from "@depot/db/migrate";
import { freePort } from "@depot/db/testing";
import {
  repoRoot,
  startProcess,
  stopChild,
  storageIsHealthy,
  storageProcessEnv,
  waitFor,
  webIsUp,
  webProcessEnv,
} from "../../scripts/stack";

export const ADMIN = { email: "ewestlund@jhu.edu", password: "admin123" };

/**
 * Both servers as real processes on an embedded PostgreSQL of their own, each of which a test may kill,
 * stop and start again: the parts a fault can hit.
 */
export async function startFaultStack(
  options: { storageEnv?: Record<string, string>; webEnv?: Record<string, string>; storageRoot?: string } = {},
) {
  const root = mkdtempSync(join(tmpdir(), "depot-faults-"));
  chmodSync(root, 0o755);
  const pgPort = await freePort();
  const pgDir = join(root, "pg");
  let pg: EmbeddedPostgresHandle = await startEmbeddedPostgres({ dataDir: pgDir, port: pgPort });
  const databaseUrl = await ensureDatabase(pg.adminUrl, "depot");
  await runMigrations(databaseUrl);
  const { db, sql, close } = createDb(databaseUrl, { max: 3 });
  await seed(db);
  const cohortId = (await ensureCohort(db, { name: "Demo Cohort A" })).cohort.id;

  const storageRoot = options.storageRoot ?? join(root, "storage");
  mkdirSync(storageRoot, { recursive: true });
  const apiKey = randomBytes(24).toString("hex");
  const authSecret = randomBytes(32).toString("hex");
  const storagePort = await freePort();
  const webPort = await freePort();
  const servicesUrl = `http://127.0.0.1:${storagePort}`;
  const webUrl = `http://localhost:${webPort}`;
  const logs: string[] = [];
  const log = (line: string) => {
    logs.push(line);
    if (process.env.FAULTS_VERBOSE) console.log(line);
  };

  let storage: ChildProcess;
  let web: ChildProcess;
  const startStorage = async () => {
    storage = startProcess(
      "storage",
      join(repoRoot, "apps/storage"),
      join(repoRoot, "apps/storage/src/main.ts"),
      [],
      {
        ...process.env,
        ...storageProcessEnv({ port: storagePort, apiKey, databaseUrl, storageRoot }),
        CLEANUP_INTERVAL_MINUTES: "0",
        DEPOT_LOG: "",
        ...options.storageEnv,
      },
      log,
    );
    await waitFor("storage", storageIsHealthy(servicesUrl, apiKey), storage, 60_000);
  };
  const startWeb = async () => {
    web = startProcess(
      "web",
      join(repoRoot, "apps/web"),
      join(repoRoot, "apps/web/server.ts"),
      [],
      {
        ...process.env,
        ...webProcessEnv({ port: webPort, servicesUrl, apiKey, databaseUrl, authSecret, publicUrl: webUrl }),
        ...options.webEnv,
      },
      log,
    );
    await waitFor("web", webIsUp(webUrl), web, 60_000);
  };
  await startStorage();
  await startWeb();

  const kill = async (child: ChildProcess) => {
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGKILL");
    await exited;
  };

  return {
    root,
    storageRoot,
    databaseUrl,
    servicesUrl,
    webUrl,
    apiKey,
    authSecret,
    cohortId,
    db,
    sql,
    logs,
    storage: { kill: () => kill(storage), start: startStorage, pid: () => storage.pid },
    web: { kill: () => kill(web), start: startWeb, pid: () => web.pid },
    postgres: {
      stop: () => pg.stop(),
      start: async () => {
        pg = await startEmbeddedPostgres({ dataDir: pgDir, port: pgPort });
      },
    },
    async signIn(who = ADMIN): Promise<string> {
      const res = await fetch(`${webUrl}/api/session`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(who),
      });
      if (res.status !== 200) throw new Error(`sign-in failed: ${res.status}`);
      return (res.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
    },
    /** Runs the storage cleanup with no age limit: what "after cleanup" means in the checks. */
    async cleanupEverything() {
      const res = await fetch(`${servicesUrl}/internal/storage/cleanup?hours=0`, {
        method: "POST",
        headers: { "x-api-key": apiKey },
      });
      return res.json();
    },
    async stop() {
      await Promise.all([stopChild(storage), stopChild(web)]);
      await close();
      await pg.stop();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

export type FaultStack = Awaited<ReturnType<typeof startFaultStack>>;

export interface ControlledUpload {
  /** Resolves once this many body bytes were handed to the socket. */
  reached(bytes: number): Promise<void>;
  /** The server's answer, or the transport error, and when it came. */
  result: Promise<{ status: number | null; body: string; error?: string; at: number }>;
  sha256(): string;
  abort(): void;
}

/**
 * An HTTP upload written chunk by chunk with backpressure, so a test can act when a given number of bytes
 * went out. `multipart` wraps the bytes as the web's POST /api/uploads expects (fields, then the file).
 */
export function controlledUpload(options: {
  url: string;
  method?: string;
  headers?: Record<string, string>;
  size: number;
  chunkSize?: number;
  multipart?: { fields: Record<string, string>; filename: string };
}): ControlledUpload {
  const chunkSize = options.chunkSize ?? 256 * 1024;
  const hash = createHash("sha256");
  const boundary = `----depot${randomBytes(8).toString("hex")}`;
  const preamble = options.multipart
    ? Buffer.from(
        `${Object.entries(options.multipart.fields)
          .map(([k, v]) => `--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`)
          .join(
            "",
          )}--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${options.multipart.filename}"\r\nContent-Type: text/csv\r\n\r\n`,
      )
    : Buffer.alloc(0);
  const epilogue = options.multipart ? Buffer.from(`\r\n--${boundary}--\r\n`) : Buffer.alloc(0);
  const req = httpRequest(options.url, {
    method: options.method ?? "POST",
    headers: {
      ...options.headers,
      "content-length": String(preamble.length + options.size + epilogue.length),
      ...(options.multipart ? { "content-type": `multipart/form-data; boundary=${boundary}` } : {}),
    },
  });
  let sent = 0;
  const waiters: { bytes: number; resolve: () => void }[] = [];
  const notify = () => {
    for (const w of waiters.filter((w) => sent >= w.bytes)) w.resolve();
  };
  const result = new Promise<{ status: number | null; body: string; error?: string; at: number }>((resolve) => {
    req.on("response", (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({ status: res.statusCode ?? null, body: Buffer.concat(chunks).toString(), at: Date.now() }),
      );
      res.on("error", (e) =>
        resolve({
          status: res.statusCode ?? null,
          body: Buffer.concat(chunks).toString(),
          error: e.message,
          at: Date.now(),
        }),
      );
    });
    req.on("error", (e: NodeJS.ErrnoException) =>
      resolve({ status: null, body: "", error: e.code ?? e.message, at: Date.now() }),
    );
  });
  void (async () => {
    const write = (chunk: Buffer) =>
      new Promise<void>((resolve) => {
        if (req.write(chunk)) resolve();
        else req.once("drain", resolve);
      });
    await write(preamble);
    while (sent < options.size && !req.destroyed) {
      const chunk = randomBytes(Math.min(chunkSize, options.size - sent));
      hash.update(chunk);
      await write(chunk);
      sent += chunk.length;
      notify();
      await new Promise((r) => setImmediate(r));
    }
    if (!req.destroyed) req.end(epilogue);
  })().catch(() => {});
  return {
    reached: (bytes) =>
      new Promise<void>((resolve) => {
        waiters.push({ bytes, resolve });
        notify();
      }),
    result,
    sha256: () => hash.digest("hex"),
    abort: () => req.destroy(),
  };
}
