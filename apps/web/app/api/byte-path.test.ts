import { createHash, randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { HEADER, TUS_VERSION } from "@depot/contract";
import { findFile } from "@depot/db";
import { afterAll, beforeAll, describe, expect, test, vi } from "vitest";

// The web's byte path end to end: real route handlers, real sessions (signed in through POST /api/session), the
// web and an in-process storage service on one test database, bytes checked where storage keeps them.
vi.mock("next/headers", () => import("@/lib/testing/next-headers"));
const { bytePathAs, startWebStack } = await import("@/lib/testing/web-stack");

let stack: Awaited<ReturnType<typeof startWebStack>>;
let cookie: string;
let cohortId: string;
let as: Awaited<ReturnType<typeof bytePathAs>>;
const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");
/** CSV-looking bytes (the content check reads the first ones), random after the header line. */
const csv = (size: number) =>
  Buffer.concat([Buffer.from("id,value\n"), randomBytes(size - 9).map((b) => 0x30 + (b % 10))]);

beforeAll(async () => {
  stack = await startWebStack();
  cohortId = (await stack.cohort("Byte path")).id;
  ({ cookie } = await stack.person("uploader", { cohortId, role: "manager" }));
  as = await bytePathAs(stack, cookie, cohortId);
});
afterAll(async () => {
  await stack?.stop();
});

async function storedBytes(fileId: string): Promise<Buffer> {
  const file = await findFile(stack.db, fileId);
  expect(file).toMatchObject({ status: "stored" });
  return readFileSync(join(stack.storage.root, file!.storageKey));
}

async function uploadMultipart(data: Buffer, name: string) {
  const res = await as.upload(data, name);
  expect(res.status, await res.clone().text()).toBe(201);
  return (await res.json()) as { id: string; size: number; sha256: string };
}

/** A body that arrives in `pieces`, `delayMs` apart: long enough for two PATCHes of one upload to overlap. */
function slowBody(data: Buffer, pieces = 16, delayMs = 20): ReadableStream<Uint8Array> {
  const size = Math.ceil(data.length / pieces);
  let at = 0;
  return new ReadableStream({
    async pull(controller) {
      if (at >= data.length) return controller.close();
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      controller.enqueue(new Uint8Array(data.subarray(at, at + size)));
      at += size;
    },
  });
}

async function createTusUpload(length: number, filename: string) {
  const created = await as.createTus(length, filename);
  expect(created.status, await created.clone().text()).toBe(201);
  const location = created.headers.get("location") ?? "";
  return { location, uploadId: location.split("/").pop() ?? "", fileId: created.headers.get(HEADER.fileId) ?? "" };
}

const tusPatch = (uploadId: string, offset: number, data: Buffer | ReadableStream<Uint8Array>) =>
  as.patchTus(uploadId, offset, data);

describe("the web's byte path", () => {
  test("a multipart upload is stored byte for byte, with the sha256 the web reports and the row records", async () => {
    const data = csv(3 * 1024 * 1024 + 17);
    const stored = await uploadMultipart(data, "multipart.csv");
    expect(stored).toMatchObject({ size: data.length, sha256: sha256(data) });
    const kept = await storedBytes(stored.id);
    expect(kept.length).toBe(data.length);
    expect(sha256(kept)).toBe(sha256(data));
    expect(await findFile(stack.db, stored.id)).toMatchObject({ size: data.length, sha256: sha256(data) });
  });

  test("tus through the web: creation, PATCH, HEAD at the acknowledged offset, the last PATCH completes", async () => {
    const data = csv(2 * 1024 * 1024 + 5);
    const half = 1024 * 1024;
    const { location, uploadId, fileId } = await createTusUpload(data.length, "resumable.csv");
    expect(location).toMatch(/^\/api\/uploads\/tus\/[A-Za-z0-9]+$/);

    const first = await tusPatch(uploadId, 0, data.subarray(0, half));
    expect(first.status).toBe(204);
    expect(first.headers.get("upload-offset")).toBe(String(half));

    const head = await as.headTus(uploadId);
    expect(head.status).toBe(200);
    expect(head.headers.get("upload-offset")).toBe(String(half));
    expect(head.headers.get("upload-length")).toBe(String(data.length));
    expect(head.headers.get("tus-resumable")).toBe(TUS_VERSION);
    expect(head.headers.get(HEADER.sha256)).toBeNull();

    const last = await tusPatch(uploadId, half, data.subarray(half));
    expect(last.status).toBe(204);
    expect(last.headers.get("upload-offset")).toBe(String(data.length));
    expect(last.headers.get(HEADER.sha256)).toBe(sha256(data));
    expect((await storedBytes(fileId)).equals(data)).toBe(true);

    // A client that lost the last answer resumes with HEAD: it learns the upload is complete and what was stored.
    const after = await as.headTus(uploadId);
    expect(after.status).toBe(200);
    expect(after.headers.get("upload-offset")).toBe(String(data.length));
    expect(after.headers.get(HEADER.sha256)).toBe(sha256(data));
    expect(after.headers.get(HEADER.size)).toBe(String(data.length));
    expect(after.headers.get(HEADER.fileId)).toBe(fileId);
  });

  test("the web's own refusals of tus requests carry Tus-Resumable, as every tus answer but OPTIONS must", async () => {
    const data = csv(1000);
    const { uploadId } = await createTusUpload(data.length, "refusals.csv");
    const strangerCookie = (await stack.person("tus stranger", { cohortId, role: "manager" })).cookie;
    const stranger = await bytePathAs(stack, strangerCookie, cohortId);
    const nobody = await bytePathAs(stack, "", cohortId);
    const answers = {
      "HEAD of an unknown upload": await as.headTus("nosuchupload"),
      "PATCH without a session": await nobody.patchTus(uploadId, 0, data),
      "PATCH of someone else's upload": await stranger.patchTus(uploadId, 0, data),
      "creation without a session": await nobody.createTus(10, "nobody.csv"),
    };
    const seen = Object.entries(answers).map(([what, res]) => [what, res.status, res.headers.get("tus-resumable")]);
    expect(seen).toEqual([
      ["HEAD of an unknown upload", 404, TUS_VERSION],
      ["PATCH without a session", 401, TUS_VERSION],
      ["PATCH of someone else's upload", 403, TUS_VERSION],
      ["creation without a session", 401, TUS_VERSION],
    ]);
    // Nothing reached the upload: its offset is still 0.
    expect((await as.headTus(uploadId)).headers.get("upload-offset")).toBe("0");
  });

  test("a download with Range answers 206 with exactly those bytes and their Content-Range", async () => {
    const data = csv(100_000);
    const { id } = await uploadMultipart(data, "ranged.csv");
    const get = (range?: string) => as.download(id, range ? { range } : {});

    const part = await get("bytes=1000-1999");
    expect(part.status).toBe(206);
    expect(part.headers.get("content-range")).toBe(`bytes 1000-1999/${data.length}`);
    expect(part.headers.get("content-length")).toBe("1000");
    expect(Buffer.from(await part.arrayBuffer()).equals(data.subarray(1000, 2000))).toBe(true);

    const tail = await get("bytes=-10");
    expect(tail.status).toBe(206);
    expect(Buffer.from(await tail.arrayBuffer()).equals(data.subarray(-10))).toBe(true);

    const whole = await get();
    expect(whole.status).toBe(200);
    expect(whole.headers.get(HEADER.sha256)).toBe(sha256(data));
    expect(Buffer.from(await whole.arrayBuffer()).equals(data)).toBe(true);

    const outside = await get(`bytes=${data.length + 10}-`);
    expect(outside.status).toBe(416);
    expect((await outside.json()).error.code).toBe("range_not_satisfiable");
  });

  test("a delete removes the object from storage and marks the row; the file is gone for download and delete", async () => {
    const { id } = await uploadMultipart(csv(10_000), "deleted.csv");
    const path = join(stack.storage.root, (await findFile(stack.db, id))!.storageKey);
    expect(existsSync(path)).toBe(true);
    const del = () => as.remove(id);

    const res = await del();
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ id, deleted: true });
    expect(existsSync(path)).toBe(false);
    expect(await findFile(stack.db, id)).toMatchObject({ status: "deleted" });
    expect((await as.download(id)).status).toBe(404);
    expect((await del()).status).toBe(404);
  });

  test("two PATCHes of one upload at one offset, overlapping: the upload's lock lets exactly one land", async () => {
    // Without storage's tus lock both write at offset 0 of one file: both are acknowledged, or the bytes of the
    // two interleave. With it, the second asks the first to let go, then finds the offset moved on: 409.
    for (let trial = 0; trial < 3; trial++) {
      const a = csv(1024 * 1024);
      const b = csv(1024 * 1024);
      const rest = csv(1000);
      const { uploadId, fileId } = await createTusUpload(a.length + rest.length, `raced-${trial}.csv`);
      const [ra, rb] = await Promise.all([tusPatch(uploadId, 0, slowBody(a)), tusPatch(uploadId, 0, slowBody(b))]);
      const answers = [ra, rb].map((r) => ({ status: r.status, offset: r.headers.get("upload-offset") }));
      const accepted = [ra, rb].filter((r) => r.status === 204 && r.headers.get("upload-offset") === String(a.length));
      expect(accepted.length, JSON.stringify(answers)).toBe(1);
      const loser = accepted[0] === ra ? rb : ra;
      expect(loser.status, JSON.stringify(answers)).toBe(409);
      const winner = accepted[0] === ra ? a : b;
      const done = await tusPatch(uploadId, a.length, rest);
      expect(done.status).toBe(204);
      expect((await storedBytes(fileId)).equals(Buffer.concat([winner, rest]))).toBe(true);
    }
  });
});
