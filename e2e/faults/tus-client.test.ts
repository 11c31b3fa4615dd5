import { createHash, randomBytes } from "node:crypto";
import * as tus from "tus-js-client";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type FaultStack, startFaultStack } from "./harness";

/** tus-js-client 4.3 in Node against the web's tus route, with its defaults unless a case says otherwise. */
const MiB = 1024 * 1024;
const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");

let stack: FaultStack;
let cookie: string;
beforeAll(async () => {
  stack = await startFaultStack();
  cookie = await stack.signIn();
});
afterAll(async () => {
  await stack?.stop();
});

function options(name: string, extra: Partial<tus.UploadOptions> = {}): tus.UploadOptions {
  return {
    endpoint: `${stack.webUrl}/api/uploads/tus/`,
    headers: { cookie },
    metadata: { cohortId: stack.cohortId, kind: "submission", filename: name },
    retryDelays: [],
    ...extra,
  };
}

function run(data: Buffer, opts: tus.UploadOptions) {
  return new Promise<{ upload: tus.Upload; sha: string | null }>((resolve, reject) => {
    let sha: string | null = null;
    const upload = new tus.Upload(data, {
      ...opts,
      onAfterResponse: (_req, res) => {
        sha = res.getHeader("X-Depot-Sha256") ?? sha;
      },
      onSuccess: () => resolve({ upload, sha }),
      onError: reject,
    });
    upload.start();
  });
}

async function fileStatus(name: string) {
  const [row] = await stack.sql<{ status: string; sha256: string | null; size: string | null }[]>`
    select status, sha256, size::text from files where original_name = ${name} order by created_at desc limit 1`;
  return row;
}

describe("tus-js-client through the web", () => {
  test("default chunkSize (the whole file in one PATCH) uploads and stores the right sha256", async () => {
    const data = randomBytes(12 * MiB + 3);
    const { sha } = await run(data, options("whole.csv"));
    expect(sha).toBe(sha256(data));
    expect(await fileStatus("whole.csv")).toMatchObject({ status: "stored", sha256: sha256(data) });
  });

  test("an interrupted whole-file PATCH resumes where it stopped, not from 0", async () => {
    const data = randomBytes(48 * MiB);
    let url: string | null = null;
    await new Promise<void>((resolve, reject) => {
      const upload = new tus.Upload(data, {
        ...options("interrupted.csv"),
        onProgress: (sent) => {
          if (sent > 20 * MiB && upload.url) {
            url = upload.url;
            void upload.abort().then(resolve, reject);
          }
        },
        onError: reject,
        onSuccess: () => reject(new Error("the upload should have been interrupted")),
      });
      upload.start();
    });
    expect(url).not.toBeNull();
    let kept = 0;
    for (let i = 0; i < 60 && kept === 0; i++) {
      await new Promise((r) => setTimeout(r, 250));
      const head = await fetch(url as unknown as string, {
        method: "HEAD",
        headers: { cookie, "tus-resumable": "1.0.0" },
      });
      kept = Number(head.headers.get("upload-offset"));
    }
    expect(kept).toBeGreaterThan(0);
    let resumedFrom = -1;
    const { sha } = await run(data, {
      ...options("interrupted.csv"),
      uploadUrl: url,
      onProgress: (sent) => {
        if (resumedFrom < 0) resumedFrom = sent;
      },
    });
    expect(resumedFrom).toBeGreaterThanOrEqual(kept);
    expect(sha).toBe(sha256(data));
    expect(await fileStatus("interrupted.csv")).toMatchObject({ status: "stored", sha256: sha256(data) });
  });

  test("8 MiB chunks with overridePatchMethod (X-HTTP-Method-Override through the web)", async () => {
    const data = randomBytes(20 * MiB);
    const { sha } = await run(data, options("override.csv", { chunkSize: 8 * MiB, overridePatchMethod: true }));
    expect(sha).toBe(sha256(data));
  });

  test("a 0-byte file completes at creation", async () => {
    await run(Buffer.alloc(0), options("empty.csv"));
    expect(await fileStatus("empty.csv")).toMatchObject({ status: "stored", size: "0" });
  });

  test("parallelUploads (concatenation) is refused, nothing stored", async () => {
    const error = await run(randomBytes(2 * MiB), options("parallel.csv", { parallelUploads: 2 })).then(
      () => null,
      (e: unknown) => e as tus.DetailedError,
    );
    expect(error?.originalResponse?.getStatus()).toBe(501);
    const [row] = await stack.sql<{ n: number }[]>`
      select count(*)::int as n from files where original_name = 'parallel.csv' and status = 'stored'`;
    expect(row?.n).toBe(0);
  });

  test("DELETE of a finished upload answers 204 and leaves the file stored", async () => {
    const data = randomBytes(MiB);
    const { upload } = await run(data, options("kept.csv"));
    const res = await fetch(upload.url as string, {
      method: "DELETE",
      headers: { cookie, "tus-resumable": "1.0.0", origin: stack.webUrl },
    });
    expect(res.status).toBe(204);
    expect(await fileStatus("kept.csv")).toMatchObject({ status: "stored", sha256: sha256(data) });
  });
});
