import { randomBytes } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { TUS_VERSION } from "@depot/contract";
import { afterAll, beforeAll, describe, expect, test, vi } from "vitest";

// Every web route that talks to storage, with storage taken away (nothing listens where the web sends), and the
// one repeat of a call whose connection broke before storage answered. Real route handlers, real sessions, a real
// storage service behind a relay the test controls.
vi.mock("next/headers", () => import("@/lib/testing/next-headers"));
const { bytePathAs, startWebStack, tusParams } = await import("@/lib/testing/web-stack");
const tus = await import("./uploads/tus/[[...path]]/route");
const cleanup = await import("./maintenance/cleanup-preview/route");
const { fetchStorageHealth, fetchStorageUsage } = await import("@/lib/storage-client");

let stack: Awaited<ReturnType<typeof startWebStack>>;
let cookie: string;
let adminCookie: string;
let cohortId: string;
let storedId: string;
let uploadId: string;
let as: Awaited<ReturnType<typeof bytePathAs>>;
const stored = Buffer.from("a,b\n1,2\n3,4\n");

const TUS = { "tus-resumable": TUS_VERSION };
const uploadFile = (data: Buffer, name = "data.csv") => as.upload(data, name);
const createTus = (length: number, body?: Buffer) => as.createTus(length, "big.csv", body);
const headTus = () => as.headTus(uploadId);
const patchTus = (offset: number, data: Buffer) => as.patchTus(uploadId, offset, data);
const getDownload = (id: string) => as.download(id);
const deleteFile = (id: string) => as.remove(id);

beforeAll(async () => {
  stack = await startWebStack();
  cohortId = (await stack.cohort("Unreachable")).id;
  ({ cookie } = await stack.person("uploader", { cohortId, role: "manager" }));
  as = await bytePathAs(stack, cookie, cohortId);
  ({ cookie: adminCookie } = await stack.person("admin", { administrator: true }));
  const res = await uploadFile(stored);
  expect(res.status, await res.clone().text()).toBe(201);
  storedId = (await res.json()).id;
  const created = await createTus(1000);
  expect(created.status).toBe(201);
  uploadId = created.headers.get("location")?.split("/").pop() ?? "";
});
afterAll(async () => {
  await stack?.stop();
});

/** 502 in Depot's error shape with the stable code, never a bare 500. */
async function expectUnreachable(res: Response, what: string) {
  expect(res.status, what).toBe(502);
  if (res.headers.get("content-type")?.includes("json")) {
    expect(await res.json(), what).toMatchObject({ error: { code: "bad_gateway", message: expect.any(String) } });
  }
}

describe("storage unreachable", () => {
  test("every route that talks to storage answers 502 bad_gateway; health says unreachable", async () => {
    await stack.relay.stop();
    try {
      await expectUnreachable(await uploadFile(Buffer.from("x,y\n")), "POST /api/uploads");
      await expectUnreachable(await createTus(10), "tus creation");
      await expectUnreachable(await createTus(4, Buffer.from("a,b\n")), "tus creation with upload");
      await expectUnreachable(
        await stack.call(
          tus.POST,
          stack.request("POST", "/api/uploads/tus/", {
            cookie,
            headers: { ...TUS, "upload-concat": "partial", "upload-length": "5" },
          }),
          tusParams(),
        ),
        "tus concatenation",
      );
      await expectUnreachable(await tus.OPTIONS(), "tus OPTIONS");
      const head = await headTus();
      expect(head.status, "tus HEAD").toBe(502);
      expect(head.headers.get("tus-resumable")).toBe(TUS_VERSION);
      await expectUnreachable(await patchTus(0, Buffer.from("a,b\n")), "tus PATCH");
      await expectUnreachable(
        await stack.call(
          tus.DELETE,
          stack.request("DELETE", `/api/uploads/tus/${uploadId}`, { cookie, headers: TUS }),
          tusParams(uploadId),
        ),
        "tus DELETE",
      );
      await expectUnreachable(await getDownload(storedId), "download");
      await expectUnreachable(await deleteFile(storedId), "delete file");
      await expectUnreachable(
        await stack.call(
          cleanup.POST,
          stack.request("POST", "/api/maintenance/cleanup-preview", { cookie: adminCookie }),
        ),
        "cleanup preview",
      );
      // The dashboard's storage card and usage column (pages, not APIs): they say so instead of failing.
      expect(await fetchStorageHealth()).toMatchObject({ reachable: false, status: "unreachable" });
      expect(await fetchStorageUsage()).toBeNull();
    } finally {
      await stack.relay.start();
    }
    // Nothing was lost: the stored file is still there and the upload resumes at 0.
    expect((await getDownload(storedId)).status).toBe(200);
    expect((await headTus()).headers.get("upload-offset")).toBe("0");
  });
});

describe("one repeat after a broken connection", () => {
  const toStorage = (method: string, path: string) => (req: IncomingMessage) =>
    req.method === method && (req.url ?? "").startsWith(path);
  const seen = (method: string, path: string) =>
    stack.relay.seen.filter((r) => r.method === method && r.path.startsWith(path)).length;
  /** Time for a repeat that should not happen to arrive anyway. */
  const settle = () => new Promise((resolve) => setTimeout(resolve, 300));

  test("a tus HEAD reset before any answer is sent again once and succeeds", async () => {
    const before = seen("HEAD", "/internal/tus/");
    stack.relay.resetNext(toStorage("HEAD", "/internal/tus/"));
    const res = await headTus();
    expect(res.status).toBe(200);
    expect(res.headers.get("upload-offset")).toBe("0");
    expect(seen("HEAD", "/internal/tus/") - before).toBe(2);
  });

  test("a download reset before any answer is sent again once and streams the right bytes", async () => {
    const before = seen("GET", "/internal/storage/download");
    stack.relay.resetNext(toStorage("GET", "/internal/storage/download"));
    const res = await getDownload(storedId);
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(stored)).toBe(true);
    expect(seen("GET", "/internal/storage/download") - before).toBe(2);
  });

  test("two resets in a row are not repeated further: 502", async () => {
    stack.relay.resetNext(toStorage("HEAD", "/internal/tus/"), 2);
    const before = seen("HEAD", "/internal/tus/");
    await expectUnreachable(await headTus(), "HEAD reset twice");
    await settle();
    expect(seen("HEAD", "/internal/tus/") - before).toBe(2);
    stack.relay.passAll();
  });

  test("an upload body cut mid-way is never sent twice: 502, one request reached storage", async () => {
    const before = seen("POST", "/internal/storage/upload");
    stack.relay.resetNext(toStorage("POST", "/internal/storage/upload"));
    const data = Buffer.concat([Buffer.from("a,b\n"), randomBytes(256 * 1024).map((b) => 0x61 + (b % 26))]);
    await expectUnreachable(await uploadFile(data, "cut.csv"), "upload cut");
    await settle();
    expect(seen("POST", "/internal/storage/upload") - before).toBe(1);
    expect(stack.relay.seen.filter((r) => r.method === "POST").at(-1)?.bytes).toBeGreaterThan(0);
  });

  test("a tus PATCH cut mid-way is not sent again (the client resumes from HEAD)", async () => {
    const before = seen("PATCH", "/internal/tus/");
    stack.relay.resetNext(toStorage("PATCH", "/internal/tus/"));
    await expectUnreachable(await patchTus(0, Buffer.from("a,b\n1,2\n")), "PATCH cut");
    await settle();
    expect(seen("PATCH", "/internal/tus/") - before).toBe(1);
  });

  test("a file DELETE reset before the answer is not repeated (a second one would answer 404 for its success)", async () => {
    const res = await uploadFile(Buffer.from("c,d\n5,6\n"), "to-delete.csv");
    const id = (await res.json()).id as string;
    const before = seen("DELETE", "/internal/storage/delete");
    stack.relay.resetNext(toStorage("DELETE", "/internal/storage/delete"));
    await expectUnreachable(await deleteFile(id), "DELETE reset");
    await settle();
    expect(seen("DELETE", "/internal/storage/delete") - before).toBe(1);
  });
});
