import { createHash, randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
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
const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");

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
  const res = await create(
    length,
    file.id,
    { "upload-metadata": `filename ${Buffer.from("visits.csv").toString("base64")}` },
    on,
  );
  expect(res.status).toBe(201);
  return { file, location: `${on.url}${res.headers.get("location")}` };
}

const patch = (location: string, offset: number, body: Buffer, extra: Record<string, string> = {}) =>
  fetch(location, {
    method: "PATCH",
    headers: { ...TUS, "upload-offset": String(offset), "content-type": "application/offset+octet-stream", ...extra },
    body,
  });

const headOffset = async (location: string) => {
  const res = await fetch(location, { method: "HEAD", headers: TUS });
  return { status: res.status, offset: res.headers.get("upload-offset") };
};

const chunkObjects = (root: string) => {
  try {
    return readdirSync(join(root, "tus-staging"), { recursive: true }).filter((f) => String(f).includes("/"));
  } catch {
    return [];
  }
};

describe("tus 1.0 at /internal/tus/", () => {
  test("OPTIONS advertises the version, extensions, maximum size and sha256 checksums", async () => {
    const res = await fetch(`${storage.url}/internal/tus/`, {
      method: "OPTIONS",
      headers: { "x-api-key": TEST_API_KEY },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get("tus-version")).toBe("1.0.0");
    expect(res.headers.get("tus-extension")).toBe("creation,termination,expiration,checksum");
    expect(res.headers.get("tus-max-size")).toBe(String(64 * 1024 * 1024));
    expect(res.headers.get("tus-checksum-algorithm")).toBe("sha256");
  });

  test("an upload in three chunks ends as one stored object with the whole file's sha256", async () => {
    const data = randomBytes(3 * 1024 * 1024 + 17);
    const { file, location } = await createUpload(data.length);
    const parts = [
      data.subarray(0, 1024 * 1024),
      data.subarray(1024 * 1024, 2 * 1024 * 1024),
      data.subarray(2 * 1024 * 1024),
    ];
    let offset = 0;
    for (const part of parts) {
      const res = await patch(location, offset, part);
      expect(res.status).toBe(204);
      offset += part.length;
      expect(res.headers.get("upload-offset")).toBe(String(offset));
    }
    expect(await headOffset(location)).toEqual({ status: 200, offset: String(data.length) });
    const stored = await findFile(storage.db, file.id);
    expect(stored).toMatchObject({ status: "stored", size: data.length, sha256: sha256(data), uploadId: null });
    expect(readFileSync(join(storage.root, file.storageKey)).equals(data)).toBe(true);
    expect(chunkObjects(storage.root)).toEqual([]);
    const rows = await storage.db.execute<{ action: string; outcome: string; sha256: string | null }>(
      sql`select action, outcome, sha256 from phi_file_tracking where file_id = ${file.id} order by id`,
    );
    expect(rows.map((r) => [r.action, r.outcome, r.sha256])).toEqual([
      ["chunked_upload_created", "success", null],
      ["chunked_upload_completed", "success", sha256(data)],
    ]);
  });

  test("a wrong Upload-Offset gets 409 and a retried chunk is never appended twice", async () => {
    const data = randomBytes(2000);
    const { file, location } = await createUpload(data.length);
    expect((await patch(location, 0, data.subarray(0, 1000))).status).toBe(204);
    const retried = await patch(location, 0, data.subarray(0, 1000));
    expect(retried.status).toBe(409);
    expect((await json(retried)).error.code).toBe("offset_mismatch");
    expect((await patch(location, 1500, data.subarray(1500))).status).toBe(409);
    expect(await headOffset(location)).toEqual({ status: 200, offset: "1000" });
    expect((await patch(location, 1000, data.subarray(1000))).status).toBe(204);
    expect(await findFile(storage.db, file.id)).toMatchObject({ status: "stored", size: 2000, sha256: sha256(data) });
  });

  test("a PATCH resuming while the dropped one is still in progress waits for it, then continues", async () => {
    const data = randomBytes(4096);
    const { file, location } = await createUpload(data.length);
    // The dropped PATCH: half its bytes sent, then the connection is cut while the resumed PATCH already waits.
    const url = new URL(location);
    const dropped = request(url, {
      method: "PATCH",
      headers: {
        ...TUS,
        "upload-offset": "0",
        "content-type": "application/offset+octet-stream",
        "content-length": String(data.length),
      },
    });
    dropped.on("error", () => {});
    dropped.write(data.subarray(0, 2048));
    await sleep(200);
    const resumed = patch(location, 0, data);
    await sleep(200);
    dropped.destroy();
    const res = await resumed;
    expect(res.status).toBe(204);
    expect(res.headers.get("upload-offset")).toBe(String(data.length));
    expect(await findFile(storage.db, file.id)).toMatchObject({
      status: "stored",
      size: data.length,
      sha256: sha256(data),
    });
  });

  test("a chunk past Upload-Length is refused and nothing is kept", async () => {
    const { location } = await createUpload(100);
    const res = await patch(location, 0, randomBytes(150));
    expect(res.status).toBe(413);
    expect(await headOffset(location)).toEqual({ status: 200, offset: "0" });
  });

  test("a chunk whose Upload-Checksum does not match gets 460 and changes nothing", async () => {
    const { location } = await createUpload(100);
    const wrong = createHash("sha256").update("other").digest("base64");
    const res = await patch(location, 0, randomBytes(100), { "upload-checksum": `sha256 ${wrong}` });
    expect(res.status).toBe(460);
    expect(await headOffset(location)).toEqual({ status: 200, offset: "0" });
    const chunk = randomBytes(100);
    const right = createHash("sha256").update(chunk).digest("base64");
    expect((await patch(location, 0, chunk, { "upload-checksum": `sha256 ${right}` })).status).toBe(204);
  });

  test("creation refuses a missing Tus-Resumable, an oversized length and bad metadata", async () => {
    const file = await newFile();
    const noVersion = await fetch(`${storage.url}/internal/tus/`, {
      method: "POST",
      headers: { "x-api-key": TEST_API_KEY, "upload-length": "10", "x-depot-file-id": file.id },
    });
    expect(noVersion.status).toBe(412);
    expect((await create(64 * 1024 * 1024 + 1, file.id)).status).toBe(413);
    for (const metadata of [
      "filename not-base64!",
      "bad key aGk=",
      `filename ${Buffer.from("a\r\nb").toString("base64")}`,
      "a aGk=,a aGk=",
    ]) {
      const res = await create(10, file.id, { "upload-metadata": metadata });
      expect(res.status).toBe(400);
      expect((await json(res)).error.code).toBe("invalid_metadata");
    }
    expect((await create(10, "not-a-uuid")).status).toBe(400);
  });

  test("termination removes the chunks, marks the file failed, and the upload is gone", async () => {
    const { file, location } = await createUpload(1000);
    await patch(location, 0, randomBytes(400));
    const res = await fetch(location, { method: "DELETE", headers: TUS });
    expect(res.status).toBe(204);
    expect((await headOffset(location)).status).toBe(410);
    expect((await patch(location, 400, randomBytes(600))).status).toBe(410);
    expect(await findFile(storage.db, file.id)).toMatchObject({ status: "failed" });
    expect(chunkObjects(storage.root)).toEqual([]);
  });

  test("an upload past its expiry answers 410", async () => {
    const short = await startTestStorage({ env: { TUS_EXPIRY_HOURS: String(0.5 / 3600) } });
    try {
      await ensureCohort(short.db, { name: "Tus cohort" }).then(({ cohort }) => {
        cohortId = cohort.id;
      });
      const { location } = await createUpload(100, short);
      await sleep(700);
      expect((await headOffset(location)).status).toBe(410);
    } finally {
      await short.stop();
      cohortId = (await ensureCohort(storage.db, { name: "Tus cohort" })).cohort.id;
    }
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
      expect(await findResumableUpload(second.db, path.split("/").at(-1)!)).toMatchObject({ status: "completed" });
    } finally {
      await second.stop();
      await first.stop();
      cohortId = (await ensureCohort(storage.db, { name: "Tus cohort" })).cohort.id;
    }
  });
});
