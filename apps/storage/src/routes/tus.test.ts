import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { buildStorageKey } from "@depot/contract";
import { createFileRecord, ensureCohort, findFile, findResumableUpload } from "@depot/db";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { json, startTestStorage, TEST_API_KEY } from "../test-server";

type Storage = Awaited<ReturnType<typeof startTestStorage>>;
let storage: Storage;
let cohortId: string;
beforeAll(async () => {
  storage = await startTestStorage({ env: { MAX_UPLOAD_BYTES: String(64 * 1024 * 1024) } });
  cohortId = (await ensureCohort(storage.db, { name: "Tus cohort" })).cohort.id;
});
afterAll(async () => {
  await storage?.stop();
});

const TUS = { "tus-resumable": "1.0.0", "x-api-key": TEST_API_KEY };
const OCTETS = { "content-type": "application/offset+octet-stream" };
const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");
const b64 = (text: string) => Buffer.from(text).toString("base64");

async function newFile(on: Storage = storage) {
  const id = crypto.randomUUID();
  return createFileRecord(on.db, {
    id,
    cohortId,
    uploaderId: null,
    originalName: "visits.csv",
    storageDisk: "workspace",
    storageKey: buildStorageKey(cohortId, id),
    kind: "submission",
  });
}

async function create(length: number, fileId: string, extra: Record<string, string> = {}, on: Storage = storage) {
  return fetch(`${on.url}/internal/tus/`, {
    method: "POST",
    headers: { ...TUS, "upload-length": String(length), "x-depot-file-id": fileId, ...extra },
  });
}

async function createUpload(length: number, on: Storage = storage) {
  const file = await newFile(on);
  const res = await create(length, file.id, { "upload-metadata": `filename ${b64("visits.csv")}` }, on);
  expect(res.status).toBe(201);
  return { file, location: `${on.url}${res.headers.get("location")}` };
}

const patch = (location: string, offset: number, body: Buffer, extra: Record<string, string> = {}) =>
  fetch(location, { method: "PATCH", headers: { ...TUS, "upload-offset": String(offset), ...OCTETS, ...extra }, body });

const headOffset = async (location: string) => {
  const res = await fetch(location, { method: "HEAD", headers: TUS });
  return { status: res.status, offset: res.headers.get("upload-offset") };
};

/** A PATCH whose body arrives in pieces, so two of them are in flight at once. */
function slowPatch(location: string, offset: number, body: Buffer, pieces = 16, delayMs = 20) {
  return new Promise<{ status: number; offset: string | undefined }>((resolve, reject) => {
    const req = request(
      new URL(location),
      {
        method: "PATCH",
        headers: { ...TUS, ...OCTETS, "upload-offset": String(offset), "content-length": String(body.length) },
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve({ status: res.statusCode ?? 0, offset: res.headers["upload-offset"] as string }));
      },
    );
    req.on("error", reject);
    void (async () => {
      const size = Math.ceil(body.length / pieces);
      for (let start = 0; start < body.length; start += size) {
        if (!req.write(body.subarray(start, start + size))) await new Promise((r) => req.once("drain", r));
        await sleep(delayMs);
      }
      req.end();
    })();
  });
}

const inProgress = (root: string) => (existsSync(join(root, ".tus")) ? readdirSync(join(root, ".tus")) : []);

async function auditOf(fileId: string, on: Storage = storage) {
  const rows = await on.db.execute<{ action: string; outcome: string; sha256: string | null }>(
    sql`select action, outcome, sha256 from phi_file_tracking where file_id = ${fileId} order by id`,
  );
  return rows.map((r) => [r.action, r.outcome, r.sha256]);
}

describe("tus 1.0 at /internal/tus/ (@tus/server with Depot's store)", () => {
  test("OPTIONS advertises the version, the extensions Depot implements and the maximum size", async () => {
    const res = await fetch(`${storage.url}/internal/tus/`, {
      method: "OPTIONS",
      headers: { "x-api-key": TEST_API_KEY },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get("tus-version")).toBe("1.0.0");
    expect(res.headers.get("tus-extension")).toBe(
      "creation,creation-with-upload,creation-defer-length,termination,expiration",
    );
    expect(res.headers.get("tus-max-size")).toBe(String(64 * 1024 * 1024));
    expect(res.headers.get("tus-checksum-algorithm")).toBeNull();
  });

  test("an upload in three PATCHes ends as one object, appended in place, with the whole file's sha256", async () => {
    const data = randomBytes(3 * 1024 * 1024 + 17);
    const { file, location } = await createUpload(data.length);
    const cuts = [0, 1024 * 1024, 2 * 1024 * 1024, data.length];
    let last: Response | undefined;
    for (let i = 0; i < 3; i++) {
      last = await patch(location, cuts[i] as number, data.subarray(cuts[i], cuts[i + 1]));
      expect(last.status).toBe(204);
      expect(last.headers.get("upload-offset")).toBe(String(cuts[i + 1]));
      expect(last.headers.get("tus-resumable")).toBe("1.0.0");
    }
    expect(last?.headers.get("x-depot-sha256")).toBe(sha256(data));
    expect(last?.headers.get("x-depot-file-id")).toBe(file.id);
    const head = await fetch(location, { method: "HEAD", headers: TUS });
    expect(head.status).toBe(200);
    expect(head.headers.get("upload-offset")).toBe(String(data.length));
    expect(head.headers.get("upload-metadata")).toBe(`filename ${b64("visits.csv")}`);
    expect(await findFile(storage.db, file.id)).toMatchObject({
      status: "stored",
      size: data.length,
      sha256: sha256(data),
    });
    expect(readFileSync(join(storage.root, file.storageKey)).equals(data)).toBe(true);
    expect(inProgress(storage.root)).not.toContain(new URL(location).pathname.split("/").at(-1));
    expect(await auditOf(file.id)).toEqual([
      ["chunked_upload_created", "success", null],
      ["chunked_upload_completed", "success", sha256(data)],
    ]);
  });

  test("a wrong Upload-Offset gets 409 in Depot's error shape with Tus-Resumable, and nothing is appended twice", async () => {
    const data = randomBytes(2000);
    const { file, location } = await createUpload(data.length);
    expect((await patch(location, 0, data.subarray(0, 1000))).status).toBe(204);
    const retried = await patch(location, 0, data.subarray(0, 1000));
    expect(retried.status).toBe(409);
    expect(retried.headers.get("tus-resumable")).toBe("1.0.0");
    expect(retried.headers.get("content-type")).toContain("application/json");
    expect((await json(retried)).error.code).toBe("offset_mismatch");
    expect((await patch(location, 1500, data.subarray(1500))).status).toBe(409);
    expect(await headOffset(location)).toEqual({ status: 200, offset: "1000" });
    expect((await patch(location, 1000, data.subarray(1000))).status).toBe(204);
    expect(await findFile(storage.db, file.id)).toMatchObject({ status: "stored", size: 2000, sha256: sha256(data) });
  });

  test("the bytes of an interrupted PATCH are kept: the upload resumes where the connection dropped", async () => {
    const data = randomBytes(4 * 1024 * 1024);
    const { file, location } = await createUpload(data.length);
    const dropped = request(new URL(location), {
      method: "PATCH",
      headers: { ...TUS, ...OCTETS, "upload-offset": "0", "content-length": String(data.length) },
    });
    dropped.on("error", () => {});
    dropped.write(data.subarray(0, 1024 * 1024 + 5));
    await sleep(300);
    dropped.destroy();
    let kept = 0;
    for (let i = 0; i < 50 && kept === 0; i++) {
      await sleep(100);
      kept = Number((await headOffset(location)).offset);
    }
    expect(kept).toBe(1024 * 1024 + 5);
    const res = await patch(location, kept, data.subarray(kept));
    expect(res.status).toBe(204);
    expect(await findFile(storage.db, file.id)).toMatchObject({ status: "stored", sha256: sha256(data) });
  });

  test("a PATCH past Upload-Length gets 413 and nothing is kept", async () => {
    const { location } = await createUpload(100);
    const res = await patch(location, 0, randomBytes(150));
    expect(res.status).toBe(413);
    expect(res.headers.get("tus-resumable")).toBe("1.0.0");
    expect(await headOffset(location)).toEqual({ status: 200, offset: "0" });
  });

  test("Upload-Checksum is refused (no checksum extension) rather than ignored", async () => {
    const { location } = await createUpload(100);
    const chunk = randomBytes(100);
    const res = await patch(location, 0, chunk, {
      "upload-checksum": `sha1 ${createHash("sha1").update(chunk).digest("base64")}`,
    });
    expect(res.status).toBe(400);
    expect(await headOffset(location)).toEqual({ status: 200, offset: "0" });
  });

  test("an unsupported or missing Tus-Resumable gets 412 with Tus-Version; bad creations are refused", async () => {
    const file = await newFile();
    for (const version of [undefined, "0.2.2"]) {
      const res = await fetch(`${storage.url}/internal/tus/`, {
        method: "POST",
        headers: {
          "x-api-key": TEST_API_KEY,
          "upload-length": "10",
          "x-depot-file-id": file.id,
          ...(version ? { "tus-resumable": version } : {}),
        },
      });
      expect(res.status).toBe(412);
      expect(res.headers.get("tus-version")).toBe("1.0.0");
      expect(res.headers.get("tus-resumable")).toBe("1.0.0");
      expect((await json(res)).error.code).toBe("unsupported_version");
    }
    expect((await create(64 * 1024 * 1024 + 1, file.id)).status).toBe(413);
    for (const metadata of ["filename not-base64!", "bad key aGk="]) {
      expect((await create(10, file.id, { "upload-metadata": metadata })).status).toBe(400);
    }
    const noFile = await create(10, "not-a-uuid");
    expect(noFile.status).toBe(400);
    expect(noFile.headers.get("tus-resumable")).toBe("1.0.0");
    const noKey = await fetch(`${storage.url}/internal/tus/`, {
      method: "POST",
      headers: { "tus-resumable": "1.0.0" },
    });
    expect(noKey.status).toBe(401);
    expect(noKey.headers.get("tus-resumable")).toBe("1.0.0");
  });

  test("Upload-Concat (parallel uploads) is refused with 501 and nothing is stored", async () => {
    const file = await newFile();
    const res = await create(10, file.id, { "upload-concat": "partial" });
    expect(res.status).toBe(501);
    expect((await json(res)).error.code).toBe("not_implemented");
    expect(await findFile(storage.db, file.id)).toMatchObject({ uploadId: null, status: "uploading" });
    const rows = await storage.db.execute(sql`select id from resumable_uploads where file_id = ${file.id}`);
    expect(rows.length).toBe(0);
  });

  test("creation-with-upload keeps the POST body, and a whole file in the POST completes at once", async () => {
    const data = randomBytes(5000);
    const part = await newFile();
    const first = await create(data.length, part.id, { ...OCTETS }).then(async (r) => r);
    expect(first.status).toBe(201);
    const whole = await newFile();
    const res = await fetch(`${storage.url}/internal/tus/`, {
      method: "POST",
      headers: { ...TUS, ...OCTETS, "upload-length": String(data.length), "x-depot-file-id": whole.id },
      body: data,
    });
    expect(res.status).toBe(201);
    expect(res.headers.get("upload-offset")).toBe(String(data.length));
    expect(res.headers.get("x-depot-sha256")).toBe(sha256(data));
    expect(await findFile(storage.db, whole.id)).toMatchObject({ status: "stored", sha256: sha256(data) });

    const half = await newFile();
    const started = await fetch(`${storage.url}/internal/tus/`, {
      method: "POST",
      headers: { ...TUS, ...OCTETS, "upload-length": String(data.length), "x-depot-file-id": half.id },
      body: data.subarray(0, 2000),
    });
    expect(started.headers.get("upload-offset")).toBe("2000");
    const location = `${storage.url}${started.headers.get("location")}`;
    expect((await patch(location, 2000, data.subarray(2000))).status).toBe(204);
    expect(await findFile(storage.db, half.id)).toMatchObject({ status: "stored", sha256: sha256(data) });
  });

  test("a 0-byte upload is complete at creation", async () => {
    const file = await newFile();
    const res = await create(0, file.id);
    expect(res.status).toBe(201);
    expect(res.headers.get("x-depot-sha256")).toBe(sha256(Buffer.alloc(0)));
    expect(await findFile(storage.db, file.id)).toMatchObject({
      status: "stored",
      size: 0,
      sha256: sha256(Buffer.alloc(0)),
    });
    expect(readFileSync(join(storage.root, file.storageKey)).length).toBe(0);
  });

  test("creation-defer-length: the length comes with a later PATCH", async () => {
    const data = randomBytes(3000);
    const file = await newFile();
    const res = await fetch(`${storage.url}/internal/tus/`, {
      method: "POST",
      headers: { ...TUS, "upload-defer-length": "1", "x-depot-file-id": file.id },
    });
    expect(res.status).toBe(201);
    const location = `${storage.url}${res.headers.get("location")}`;
    expect((await patch(location, 0, data.subarray(0, 1000))).status).toBe(204);
    const head = await fetch(location, { method: "HEAD", headers: TUS });
    expect(head.headers.get("upload-defer-length")).toBe("1");
    const last = await patch(location, 1000, data.subarray(1000), { "upload-length": String(data.length) });
    expect(last.status).toBe(204);
    expect(last.headers.get("x-depot-sha256")).toBe(sha256(data));
    expect(await findFile(storage.db, file.id)).toMatchObject({ status: "stored", size: 3000, sha256: sha256(data) });
  });

  test("X-HTTP-Method-Override turns a POST into the PATCH it names", async () => {
    const data = randomBytes(500);
    const { file, location } = await createUpload(data.length);
    const res = await fetch(location, {
      method: "POST",
      headers: { ...TUS, ...OCTETS, "upload-offset": "0", "x-http-method-override": "PATCH" },
      body: data,
    });
    expect(res.status).toBe(204);
    expect(await findFile(storage.db, file.id)).toMatchObject({ status: "stored", sha256: sha256(data) });
  });

  test("termination removes the kept bytes and marks the file failed; DELETE of a finished upload keeps the file", async () => {
    const { file, location } = await createUpload(1000);
    await patch(location, 0, randomBytes(400));
    const res = await fetch(location, { method: "DELETE", headers: TUS });
    expect(res.status).toBe(204);
    expect(res.headers.get("tus-resumable")).toBe("1.0.0");
    expect((await headOffset(location)).status).toBe(410);
    expect((await patch(location, 400, randomBytes(600))).status).toBe(410);
    expect(await findFile(storage.db, file.id)).toMatchObject({ status: "failed" });
    expect(inProgress(storage.root)).not.toContain(new URL(location).pathname.split("/").at(-1));

    const data = randomBytes(100);
    const done = await createUpload(data.length);
    expect((await patch(done.location, 0, data)).status).toBe(204);
    const ended = await fetch(done.location, { method: "DELETE", headers: TUS });
    expect(ended.status).toBe(204);
    expect(await findFile(storage.db, done.file.id)).toMatchObject({ status: "stored", sha256: sha256(data) });
    expect(readFileSync(join(storage.root, done.file.storageKey)).equals(data)).toBe(true);
  });

  test("an upload past its expiry answers 410", async () => {
    const short = await startTestStorage({ env: { TUS_EXPIRY_HOURS: String(0.5 / 3600) } });
    try {
      cohortId = (await ensureCohort(short.db, { name: "Tus cohort" })).cohort.id;
      const { location } = await createUpload(100, short);
      await sleep(700);
      expect((await headOffset(location)).status).toBe(410);
    } finally {
      await short.stop();
      cohortId = (await ensureCohort(storage.db, { name: "Tus cohort" })).cohort.id;
    }
  });

  test("a completion that failed after the last byte is finished by the next HEAD, which answers with the sha256", async () => {
    // The file's folder is blocked by a plain file, so linking the finished upload into place fails once.
    const id = crypto.randomUUID();
    const blocked = `${cohortId}/blocked-${id.slice(0, 8)}`;
    const file = await createFileRecord(storage.db, {
      id,
      cohortId,
      uploaderId: null,
      originalName: "visits.csv",
      storageDisk: "workspace",
      storageKey: `${blocked}/${id}`,
      kind: "submission",
    });
    mkdirSync(join(storage.root, cohortId), { recursive: true });
    writeFileSync(join(storage.root, blocked), "in the way");
    const data = randomBytes(3000);
    const created = await create(data.length, file.id);
    expect(created.status).toBe(201);
    const location = `${storage.url}${created.headers.get("location")}`;

    const last = await patch(location, 0, data);
    expect(last.status).toBeGreaterThanOrEqual(500);
    expect(await last.json()).toHaveProperty("error.code");
    expect(await findFile(storage.db, file.id)).toMatchObject({ status: "uploading", sha256: null });
    // While the folder is still blocked, HEAD refuses rather than claim a complete upload.
    expect((await headOffset(location)).status).toBeGreaterThanOrEqual(500);

    rmSync(join(storage.root, blocked));
    const head = await fetch(location, { method: "HEAD", headers: TUS });
    expect(head.status).toBe(200);
    expect(head.headers.get("upload-offset")).toBe(String(data.length));
    expect(head.headers.get("x-depot-sha256")).toBe(sha256(data));
    expect(head.headers.get("x-depot-file-id")).toBe(file.id);
    expect(await findFile(storage.db, file.id)).toMatchObject({ status: "stored", sha256: sha256(data) });
    expect(readFileSync(join(storage.root, file.storageKey)).equals(data)).toBe(true);
    expect(await auditOf(file.id)).toEqual([
      ["chunked_upload_created", "success", null],
      ["chunked_upload_completed", "failure", null],
      ["chunked_upload_completed", "failure", null],
      ["chunked_upload_completed", "success", sha256(data)],
    ]);
  });

  test("after the storage service restarts, the upload resumes from the acknowledged offset", async () => {
    const first = await startTestStorage();
    cohortId = (await ensureCohort(first.db, { name: "Tus cohort" })).cohort.id;
    const data = randomBytes(5000);
    const { file, location } = await createUpload(data.length, first);
    expect((await patch(location, 0, data.subarray(0, 3000))).status).toBe(204);
    const path = new URL(location).pathname;
    first.server.closeAllConnections();
    await new Promise<void>((resolve) => first.server.close(() => resolve()));

    const second = await startTestStorage({ reuse: { databaseUrl: first.databaseUrl, root: first.root } });
    try {
      const resumed = `${second.url}${path}`;
      expect(await headOffset(resumed)).toEqual({ status: 200, offset: "3000" });
      expect((await patch(resumed, 3000, data.subarray(3000))).status).toBe(204);
      expect(await findFile(second.db, file.id)).toMatchObject({ status: "stored", sha256: sha256(data) });
      expect(await findResumableUpload(second.db, path.split("/").at(-1) ?? "")).toMatchObject({ status: "completed" });
    } finally {
      await second.stop();
      await first.stop();
      cohortId = (await ensureCohort(storage.db, { name: "Tus cohort" })).cohort.id;
    }
  });

  test("two replicas on one database and one disk: concurrent PATCHes at one offset, exactly one wins", async () => {
    const second = await startTestStorage({ reuse: { databaseUrl: storage.databaseUrl, root: storage.root } });
    try {
      for (let trial = 0; trial < 6; trial++) {
        const a = randomBytes(2 * 1024 * 1024);
        const b = randomBytes(2 * 1024 * 1024);
        const rest = randomBytes(1000);
        const { file, location } = await createUpload(a.length + rest.length);
        const path = new URL(location).pathname;
        const [ra, rb] = await Promise.all([
          slowPatch(`${storage.url}${path}`, 0, a),
          slowPatch(`${second.url}${path}`, 0, b),
        ]);
        const accepted = [ra, rb].filter((r) => r.status === 204 && r.offset === String(a.length));
        expect(accepted.length, JSON.stringify([ra, rb])).toBe(1);
        const winner = ra === accepted[0] ? a : b;
        const loser = ra === accepted[0] ? rb : ra;
        expect(loser.status).toBe(409);
        const offset = Number((await headOffset(`${second.url}${path}`)).offset);
        expect(offset).toBe(a.length);
        expect((await patch(`${trial % 2 ? second.url : storage.url}${path}`, offset, rest)).status).toBe(204);
        const whole = Buffer.concat([winner, rest]);
        expect(readFileSync(join(storage.root, file.storageKey)).equals(whole)).toBe(true);
        expect(await findFile(storage.db, file.id)).toMatchObject({ status: "stored", sha256: sha256(whole) });
      }
    } finally {
      await second.stop();
    }
  });
});
