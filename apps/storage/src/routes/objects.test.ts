import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, symlinkSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { join } from "node:path";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { buildStorageKey } from "@depot/contract";
import { createFileRecord, ensureCohort, findFile } from "@depot/db";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { json, startTestStorage, TEST_API_KEY } from "../test-server";

let storage: Awaited<ReturnType<typeof startTestStorage>>;
const MAX = 4 * 1024 * 1024 * 1024;
beforeAll(async () => {
  storage = await startTestStorage({ env: { MAX_UPLOAD_BYTES: String(MAX) } });
});
afterAll(async () => {
  await storage?.stop();
});

const auth = { "x-api-key": TEST_API_KEY };
const url = (path: string, params: Record<string, string> = {}) =>
  `${storage.url}/internal/storage/${path}?${new URLSearchParams(params)}`;
const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");

/** Every file under the disk root, temporaries included: what "nothing left behind" is checked against. */
function filesOnDisk(dir = storage.root, prefix = ""): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    return entry.isDirectory() ? filesOnDisk(join(dir, entry.name), rel) : [rel];
  });
}

async function auditRows(requestId: string) {
  return storage.db.execute<{ action: string; outcome: string; error: string | null; bytes: number | null }>(
    sql`select action, outcome, error, bytes::int as bytes from phi_file_tracking where request_id = ${requestId} order by id`,
  );
}

async function uploadBuffer(key: string, data: Buffer, headers: Record<string, string> = {}) {
  return fetch(url("upload", { key }), { method: "POST", headers: { ...auth, ...headers }, body: data });
}

describe("upload and download", () => {
  test.each([0, 1, 64 * 1024])("a %d-byte upload reports the right size and sha256 and reads back", async (size) => {
    const data = randomBytes(size);
    const key = `sizes/${size}`;
    const res = await uploadBuffer(key, data, { "x-request-id": `req-size-${size}` });
    expect(res.status).toBe(201);
    expect(await json(res)).toEqual({ disk: "workspace", key, size, sha256: sha256(data), fileId: null });
    const back = await fetch(url("download", { key }), { headers: auth });
    expect(back.status).toBe(200);
    expect(Buffer.from(await back.arrayBuffer()).equals(data)).toBe(true);
    expect((await auditRows(`req-size-${size}`)).map((r) => [r.action, r.outcome, r.bytes])).toEqual([
      ["stream_upload", "success", size],
    ]);
  });

  test("a 100 MiB streamed upload is hashed correctly", async () => {
    const hash = createHash("sha256");
    let sent = 0;
    const total = 100 * 1024 * 1024;
    async function* body() {
      while (sent < total) {
        const chunk = randomBytes(Math.min(1024 * 1024, total - sent));
        hash.update(chunk);
        sent += chunk.length;
        yield chunk;
      }
    }
    const res = await fetch(url("upload", { key: "big/100mib" }), {
      method: "PUT",
      headers: auth,
      body: Readable.toWeb(Readable.from(body())) as ReadableStream,
      duplex: "half",
    } as RequestInit);
    expect(res.status).toBe(201);
    expect(await json(res)).toMatchObject({ size: total, sha256: hash.digest("hex") });
  });

  test("a multipart body with one file part is stored; more parts are refused and nothing kept", async () => {
    const form = new FormData();
    form.append("note", "ignored field");
    form.append("file", new Blob([Buffer.from("a,b\n1,2\n")]), "data.csv");
    const ok = await fetch(url("upload", { key: "multipart/one" }), { method: "POST", headers: auth, body: form });
    expect(ok.status).toBe(201);
    expect(await json(ok)).toMatchObject({ size: 8, sha256: sha256(Buffer.from("a,b\n1,2\n")) });

    const two = new FormData();
    two.append("a", new Blob(["x"]), "a.csv");
    two.append("b", new Blob(["y"]), "b.csv");
    const refused = await fetch(url("upload", { key: "multipart/two" }), { method: "POST", headers: auth, body: two });
    expect(refused.status).toBe(400);
    expect(await json(refused)).toEqual({
      error: { code: "bad_request", message: "multipart body has more than one file part" },
    });
    expect(filesOnDisk().filter((f) => f.startsWith("multipart/two"))).toEqual([]);
  });

  test("Range downloads answer 206 with the right bytes; HEAD gives the size", async () => {
    const data = randomBytes(1000);
    await uploadBuffer("ranges/obj", data);
    const cases: [string, number, number][] = [
      ["bytes=0-0", 0, 0],
      ["bytes=100-199", 100, 199],
      ["bytes=990-", 990, 999],
      ["bytes=-10", 990, 999],
      ["bytes=900-5000", 900, 999],
    ];
    for (const [range, start, end] of cases) {
      const res = await fetch(url("download", { key: "ranges/obj" }), { headers: { ...auth, range } });
      expect(res.status).toBe(206);
      expect(res.headers.get("content-range")).toBe(`bytes ${start}-${end}/1000`);
      expect(Buffer.from(await res.arrayBuffer()).equals(data.subarray(start, end + 1))).toBe(true);
    }
    const outside = await fetch(url("download", { key: "ranges/obj" }), { headers: { ...auth, range: "bytes=1000-" } });
    expect(outside.status).toBe(416);
    expect(outside.headers.get("content-range")).toBe("bytes */1000");
    const head = await fetch(url("download", { key: "ranges/obj" }), { method: "HEAD", headers: auth });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe("1000");
  });

  test("an expected sha256 or size that does not match rejects the upload and leaves nothing", async () => {
    const data = Buffer.from("some clinical rows");
    const bad = await uploadBuffer("expect/sha", data, { "x-depot-expected-sha256": "0".repeat(64) });
    expect(bad.status).toBe(422);
    expect((await json(bad)).error.code).toBe("checksum_mismatch");
    const badSize = await uploadBuffer("expect/size", data, { "x-depot-expected-size": "5" });
    expect(badSize.status).toBe(422);
    expect((await json(badSize)).error.code).toBe("size_mismatch");
    const good = await uploadBuffer("expect/ok", data, { "x-depot-expected-sha256": sha256(data) });
    expect(good.status).toBe(201);
    expect(filesOnDisk().filter((f) => f.startsWith("expect/") || f.startsWith(".tmp/"))).toEqual(["expect/ok"]);
  });

  test("an existing key is not overwritten", async () => {
    await uploadBuffer("conflict/a", Buffer.from("first"));
    const res = await uploadBuffer("conflict/a", Buffer.from("second"));
    expect(res.status).toBe(409);
    const back = await fetch(url("download", { key: "conflict/a" }), { headers: auth });
    expect(await back.text()).toBe("first");
  });
});

describe("limits and aborts", () => {
  test("MAX_UPLOAD_BYTES is enforced while streaming, declared or not", async () => {
    const small = await startTestStorage({ env: { MAX_UPLOAD_BYTES: "1000" } });
    try {
      const declared = await fetch(`${small.url}/internal/storage/upload?key=big/declared`, {
        method: "POST",
        headers: auth,
        body: randomBytes(5000),
      });
      expect(declared.status).toBe(413);
      expect((await json(declared)).error.code).toBe("too_large");
      async function* chunks() {
        for (let i = 0; i < 10; i++) yield randomBytes(500);
      }
      const streamed = await fetch(`${small.url}/internal/storage/upload?key=big/streamed`, {
        method: "POST",
        headers: auth,
        body: Readable.toWeb(Readable.from(chunks())) as ReadableStream,
        duplex: "half",
      } as RequestInit);
      expect(streamed.status).toBe(413);
      expect(readdirSync(small.root, { recursive: true }).filter((f) => String(f).includes("big"))).toEqual([]);
      expect(readdirSync(join(small.root, ".tmp"))).toEqual([]);
    } finally {
      await small.stop();
    }
  });

  test("a client that disconnects mid-upload leaves no partial file and an aborted audit row", async () => {
    const requestId = "req-abort-1";
    await new Promise<void>((resolve) => {
      const req = httpRequest(url("upload", { key: "aborted/file" }), {
        method: "POST",
        headers: { ...auth, "x-request-id": requestId, "content-length": String(10 * 1024 * 1024) },
      });
      req.on("error", () => resolve());
      req.write(randomBytes(5 * 1024 * 1024), () => setTimeout(() => req.destroy(), 100));
    });
    let rows: { action: string; outcome: string; error: string | null }[] = [];
    for (let i = 0; i < 50 && rows.length === 0; i++) {
      await sleep(100);
      rows = await auditRows(requestId);
    }
    expect(rows.map((r) => [r.action, r.outcome, r.error])).toEqual([
      ["stream_upload_aborted", "failure", "client_closed"],
    ]);
    expect(filesOnDisk().filter((f) => f.startsWith("aborted/") || f.startsWith(".tmp/"))).toEqual([]);
  });
});

describe("refusals", () => {
  const TRAVERSALS = ["../x", "..%2fx", "%2e%2e/x", "/etc/passwd", "a\0b", "a\\b", "a//b", "escape/x"];

  beforeAll(() => {
    mkdirSync("/tmp/depot-outside", { recursive: true });
    symlinkSync("/tmp/depot-outside", join(storage.root, "escape"));
  });

  test.each(TRAVERSALS)("key %j is refused with 400 on every verb and audited as denied", async (key) => {
    const requestId = `req-trav-${Buffer.from(key).toString("hex")}`;
    const headers = { ...auth, "x-request-id": requestId };
    const responses = await Promise.all([
      fetch(url("upload", { key }), { method: "POST", headers, body: "x" }),
      fetch(url("download", { key }), { headers }),
      fetch(url("download", { key }), { method: "HEAD", headers }),
      fetch(url("delete", { key }), { method: "DELETE", headers }),
      fetch(url("metadata", { key }), { headers }),
      fetch(url("exists", { key }), { headers }),
    ]);
    for (const res of responses) expect(res.status).toBe(400);
    const body = await json(responses[0]!);
    expect(body.error.code).toBe("invalid_key");
    expect(JSON.stringify(body)).not.toContain(storage.root);
    const rows = await auditRows(requestId);
    expect(rows).toHaveLength(6);
    expect(rows.every((r) => r.action === "access_denied" && r.outcome === "denied")).toBe(true);
    expect(readdirSync("/tmp/depot-outside")).toEqual([]);
  });

  test("an unknown disk is an error, never the default", async () => {
    const res = await fetch(url("upload", { key: "a/b", disk: "elsewhere" }), {
      method: "POST",
      headers: auth,
      body: "x",
    });
    expect(res.status).toBe(400);
    expect((await json(res)).error.code).toBe("unknown_disk");
  });

  test.each(["", "/", "*", "a/*", "%2e"])("delete_prefix refuses %j", async (prefix) => {
    const res = await fetch(url("delete_prefix", { prefix }), { method: "POST", headers: auth });
    expect(res.status).toBe(400);
  });

  const ROUTES: [string, string][] = [
    ["GET", "health"],
    ["POST", "upload?key=k/1"],
    ["GET", "download?key=k/1"],
    ["DELETE", "delete?key=k/1"],
    ["POST", "delete_prefix?prefix=k/"],
    ["GET", "list"],
    ["GET", "metadata?key=k/1"],
    ["GET", "exists?key=k/1"],
    ["GET", "usage"],
  ];
  test.each(ROUTES)("%s %s without, with an empty, or with a wrong key is 401", async (method, path) => {
    for (const headers of [{}, { "x-api-key": "" }, { "x-api-key": TEST_API_KEY.toUpperCase() }] as Record<
      string,
      string
    >[]) {
      const res = await fetch(`${storage.url}/internal/storage/${path}`, { method, headers });
      expect(res.status).toBe(401);
    }
    for (const method of ["POST", "PATCH", "HEAD"]) {
      expect((await fetch(`${storage.url}/internal/tus/abc`, { method })).status).toBe(401);
    }
  });
});

describe("deleting a file", () => {
  test("concurrent deletes of one file: exactly one 200 and one file_deleted row, the others 404", async () => {
    const cohortId = (await ensureCohort(storage.db, { name: "Delete race" })).cohort.id;
    const id = "7d0b7f9e-2b51-4c1e-9f0a-5a7c3e1d2b40";
    const storageKey = buildStorageKey(cohortId, id);
    await createFileRecord(storage.db, {
      id,
      cohortId,
      uploaderId: null,
      originalName: "race.csv",
      storageDisk: "workspace",
      storageKey,
      kind: "submission",
    });
    const put = await uploadBuffer("ignored", Buffer.from("a,b\n"), { "x-depot-file-id": id });
    expect(put.status).toBe(201);
    const answers = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        fetch(url("delete"), {
          method: "DELETE",
          headers: { ...auth, "x-depot-file-id": id, "x-request-id": `req-race-${i}` },
        }),
      ),
    );
    expect(answers.map((a) => a.status).sort()).toEqual([200, 404, 404, 404, 404, 404]);
    const rows = await storage.db.execute<{ n: number }>(
      sql`select count(*)::int as n from phi_file_tracking where file_id = ${id} and action = 'file_deleted'`,
    );
    expect(rows[0]?.n).toBe(1);
    expect((await findFile(storage.db, id))?.status).toBe("deleted");
    expect(filesOnDisk()).not.toContain(storageKey);
  });
});

describe("list, delete and usage", () => {
  test("list pages through a prefix, delete removes, delete_prefix empties a folder, usage counts", async () => {
    for (const n of [1, 2, 3, 4, 5]) await uploadBuffer(`listing/2026/${n}`, Buffer.alloc(n * 10));
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const params: Record<string, string> = { prefix: "listing/", limit: "2", ...(cursor ? { cursor } : {}) };
      const page = (await json(await fetch(url("list", params), { headers: auth }))) as {
        items: { key: string }[];
        nextCursor: string | null;
      };
      seen.push(...page.items.map((i) => i.key));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual([1, 2, 3, 4, 5].map((n) => `listing/2026/${n}`));

    const usage = await json(await fetch(url("usage"), { headers: auth }));
    expect(usage.disks[0].byPrefix.listing).toEqual({ bytes: 150, files: 5 });
    expect(usage.disks[0].freeBytes).toBeGreaterThan(0);

    const del = await fetch(url("delete", { key: "listing/2026/1" }), { method: "DELETE", headers: auth });
    expect(await json(del)).toMatchObject({ deleted: true });
    const again = await fetch(url("delete", { key: "listing/2026/1" }), { method: "DELETE", headers: auth });
    expect(await json(again)).toMatchObject({ deleted: false });
    const prefix = await fetch(url("delete_prefix", { prefix: "listing/2026/" }), { method: "POST", headers: auth });
    expect(await json(prefix)).toMatchObject({ deleted: 4 });
    const exists = await fetch(url("exists", { key: "listing/2026/5" }), { headers: auth });
    expect(await json(exists)).toMatchObject({ exists: false });
    const missing = await fetch(url("download", { key: "listing/2026/5" }), { headers: auth });
    expect(missing.status).toBe(404);
    expect(await json(missing)).toEqual({ error: { code: "not_found", message: "no such object" } });
  });
});
