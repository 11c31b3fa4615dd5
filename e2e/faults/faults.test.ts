import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { controlledUpload, type FaultStack, startFaultStack } from "./harness";
import { expectNothingLost } from "./invariants";

const MiB = 1024 * 1024;
const TUS = { "tus-resumable": "1.0.0" };
const completed = new Map<string, string>();

let stack: FaultStack;
let cookie: string;
beforeAll(async () => {
  stack = await startFaultStack();
  cookie = await stack.signIn();
});
afterAll(async () => {
  await stack?.stop();
});

const multipartUpload = (size: number, filename: string) =>
  controlledUpload({
    url: `${stack.webUrl}/api/uploads`,
    headers: { cookie },
    size,
    multipart: { fields: { cohortId: stack.cohortId, kind: "submission" }, filename },
  });

const metadata = (fields: Record<string, string>) =>
  Object.entries(fields)
    .map(([k, v]) => `${k} ${Buffer.from(v).toString("base64")}`)
    .join(",");

async function createTusUpload(length: number, filename: string) {
  const res = await fetch(`${stack.webUrl}/api/uploads/tus/`, {
    method: "POST",
    headers: {
      ...TUS,
      cookie,
      "upload-length": String(length),
      "upload-metadata": metadata({ cohortId: stack.cohortId, kind: "submission", filename }),
    },
  });
  expect(res.status).toBe(201);
  return {
    location: `${stack.webUrl}${res.headers.get("location")}`,
    fileId: res.headers.get("x-depot-file-id") ?? "",
  };
}

const patch = (location: string, offset: number, body: Buffer) =>
  fetch(location, {
    method: "PATCH",
    headers: { ...TUS, cookie, "upload-offset": String(offset), "content-type": "application/offset+octet-stream" },
    body: new Uint8Array(body),
  });

async function uploadOk(size: number, name: string) {
  const upload = multipartUpload(size, name);
  const result = await upload.result;
  expect(result.status).toBe(201);
  const body = JSON.parse(result.body) as { id: string; sha256: string };
  expect(body.sha256).toBe(upload.sha256());
  completed.set(body.id, body.sha256);
  return body;
}

describe("faults", () => {
  test("storage killed mid single upload: a clear 502 within seconds, nothing kept", async () => {
    const upload = multipartUpload(200 * MiB, "killed-storage.csv");
    await upload.reached(20 * MiB);
    const killedAt = Date.now();
    await stack.storage.kill();
    const result = await upload.result;
    expect(result.status).toBe(502);
    expect(JSON.parse(result.body).error.code).toBe("bad_gateway");
    expect(result.at - killedAt).toBeLessThan(5_000);
    await stack.storage.start();
    await uploadOk(3 * MiB, "after-restart.csv");
  });

  test("storage killed mid tus upload: 502, then the upload resumes from the acknowledged offset", async () => {
    const data = randomBytes(40 * MiB);
    const { location, fileId } = await createTusUpload(data.length, "resumed.csv");
    expect((await patch(location, 0, data.subarray(0, 8 * MiB))).status).toBe(204);

    const second = controlledUpload({
      url: location,
      method: "PATCH",
      headers: { ...TUS, cookie, "upload-offset": String(8 * MiB), "content-type": "application/offset+octet-stream" },
      size: 32 * MiB,
    });
    await second.reached(10 * MiB);
    const killedAt = Date.now();
    await stack.storage.kill();
    const result = await second.result;
    expect(result.status).toBe(502);
    expect(result.at - killedAt).toBeLessThan(5_000);

    await stack.storage.start();
    const head = await fetch(location, { method: "HEAD", headers: { ...TUS, cookie } });
    expect(head.status).toBe(200);
    expect(head.headers.get("upload-offset")).toBe(String(8 * MiB));
    const done = await patch(location, 8 * MiB, data.subarray(8 * MiB));
    expect(done.status).toBe(204);
    const { createHash } = await import("node:crypto");
    const sha256 = createHash("sha256").update(data).digest("hex");
    expect(done.headers.get("x-depot-sha256")).toBe(sha256);
    completed.set(fileId, sha256);
  });

  test("web killed mid-upload: storage notices the broken stream and removes the partial", async () => {
    const upload = multipartUpload(200 * MiB, "killed-web.csv");
    await upload.reached(20 * MiB);
    await stack.web.kill();
    const result = await upload.result;
    expect(result.status).toBeNull();
    const [row] = await stack.sql<{ id: string }[]>`select id::text from files where original_name = 'killed-web.csv'`;
    await expect
      .poll(
        async () => {
          const rows =
            await stack.sql`select 1 from phi_file_tracking where file_id = ${row!.id} and action = 'stream_upload_aborted' and server_role = 'services'`;
          return rows.length;
        },
        { timeout: 10_000 },
      )
      .toBe(1);
    await stack.web.start();
    cookie = await stack.signIn();
  });

  test("PostgreSQL unreachable during an upload: not reported complete, clear error, service resumes when it is back", async () => {
    const upload = multipartUpload(30 * MiB, "db-down.csv");
    await upload.reached(10 * MiB);
    await stack.postgres.stop();
    const result = await upload.result;
    expect(result.status).toBe(503);
    expect(JSON.parse(result.body).error).toEqual({
      code: "unavailable",
      message: "the upload could not be recorded in the audit trail, so it was not kept",
    });
    await stack.postgres.start();
    await expect.poll(async () => (await stack.signIn().catch(() => "")) !== "", { timeout: 20_000 }).toBe(true);
    cookie = await stack.signIn();
    await uploadOk(2 * MiB, "db-back.csv");
  });

  test("the client disconnects at 50%: no partial, an aborted audit row", async () => {
    const upload = multipartUpload(40 * MiB, "half.csv");
    await upload.reached(20 * MiB);
    upload.abort();
    const [row] = await stack.sql<{ id: string }[]>`select id::text from files where original_name = 'half.csv'`;
    await expect
      .poll(
        async () => {
          const rows =
            await stack.sql`select 1 from phi_file_tracking where file_id = ${row!.id} and action = 'stream_upload_aborted'`;
          return rows.length;
        },
        { timeout: 10_000 },
      )
      .toBe(1);
  });

  test("nothing was lost or left behind", async () => {
    expect(completed.size).toBeGreaterThanOrEqual(3);
    await expectNothingLost(stack, completed);
  });
});
