import { createHash, randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HEADER } from "@depot/contract";
import { createDb, ensureCohort } from "@depot/db";
import { ADMIN, embeddedPostgresDir, type ServerProcess, signIn, startStack } from "../../scripts/stack";

export { ADMIN };

/**
 * Both servers as real processes on an embedded PostgreSQL of their own, each of which a test may kill,
 * stop and start again: the parts a fault can hit. With `replicas`, HAProxy in front of each tier.
 */
export async function startFaultStack(
  options: {
    storageEnv?: Record<string, string>;
    webEnv?: Record<string, string>;
    storageRoot?: string;
    replicas?: { web?: number; storage?: number };
    /** With replicas: HAProxy in front (default), or web i straight to storage i. */
    balancer?: boolean;
  } = {},
) {
  const root = mkdtempSync(join(tmpdir(), "depot-faults-"));
  chmodSync(root, 0o755);
  const logs: string[] = [];
  const log = (line: string) => {
    logs.push(line);
    if (process.env.FAULTS_VERBOSE) console.log(line);
  };
  const stack = await startStack({
    dataDir: root,
    database: "embedded",
    storageRoot: options.storageRoot,
    replicas: options.replicas,
    balancer: options.balancer,
    storageEnv: { CLEANUP_INTERVAL_MINUTES: "0", DEPOT_LOG: "", ...options.storageEnv },
    webEnv: options.webEnv,
    log,
  }).catch((error: Error) => {
    console.error(logs.slice(-40).join("\n"));
    rmSync(root, { recursive: true, force: true });
    throw error;
  });
  const { db, sql, close } = createDb(stack.databaseUrl, { max: 3 });
  const cohortId = (await ensureCohort(db, { name: "Demo Cohort A" })).cohort.id;
  const handle = (p: ServerProcess | undefined) => {
    if (!p) throw new Error("no such process in this stack");
    return { kill: () => p.kill(), start: () => p.start(), pid: () => p.pid(), url: p.url };
  };

  return {
    root,
    /** The embedded PostgreSQL's data folder, beside the storage root. */
    postgresDir: embeddedPostgresDir(root),
    storageRoot: stack.storageRoot ?? "",
    databaseUrl: stack.databaseUrl,
    servicesUrl: stack.servicesUrl,
    webUrl: stack.webUrl,
    apiKey: stack.apiKey,
    authSecret: stack.authSecret,
    cohortId,
    db,
    sql,
    logs,
    storage: handle(stack.storage[0]),
    web: handle(stack.web[0]),
    /** Each replica, when started with several. */
    replicas: { storage: stack.storage.map(handle), web: stack.web.map(handle) },
    postgres: stack.postgres!,
    signIn: (who = ADMIN): Promise<string> => signIn(stack.webUrl, who),
    /** Runs the storage cleanup with no age limit: what "after cleanup" means in the checks. */
    async cleanupEverything() {
      const res = await fetch(`${stack.servicesUrl}/internal/storage/cleanup?hours=0`, {
        method: "POST",
        headers: { [HEADER.apiKey]: stack.apiKey },
      });
      return res.json();
    },
    async stop() {
      await close();
      await stack.stop();
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
  /** The bytes to send (else `size` random bytes). */
  data?: Buffer;
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
      const length = Math.min(chunkSize, options.size - sent);
      const chunk = options.data ? options.data.subarray(sent, sent + length) : randomBytes(length);
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
