import { createHash, randomBytes, randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { join, relative } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { createDb, createUser, ensureCohort, setMembership, verifyAuditChain } from "@depot/db";
import { afterAll, beforeAll, describe, expect } from "vitest";
import { ADMIN, type FaultStack, startFaultStack } from "../faults/harness";
import { expectNothingLost } from "../faults/invariants";
import {
  describeAnswer,
  describeRaw,
  expectJsonError,
  expectNoLeak,
  expectNothingStored,
  expectProtocolRefusal,
  type Snapshot,
  snapshot,
} from "./checks";
import {
  type Answer,
  b64url,
  call,
  MAGIC,
  metadata,
  multipart,
  nextAuthJwt,
  type Part,
  SESSION_COOKIE,
  TUS_VERSION,
} from "./client";
import { head, rawRequest } from "./raw";
import { adversarialCase as kase, writeReport } from "./report";

const KiB = 1024;
const MiB = 1024 * KiB;
const IDLE_SECONDS = 4;
const MAX_UPLOAD = 8 * MiB;
const TUS = { "tus-resumable": TUS_VERSION };

let stack: FaultStack;
let closeDb: () => Promise<void>;
const startedAt = Date.now();
/** Uploads Depot reported complete: the final check finds each stored, with its object and both tiers' audit. */
const completed = new Map<string, string>();

const people = {
  admin: { ...ADMIN, id: "", cookie: "" },
  managerA: { email: "adv-manager-a@example.org", password: "manager-a-pass", id: "", cookie: "" },
  viewerA: { email: "adv-viewer-a@example.org", password: "viewer-a-pass", id: "", cookie: "" },
  managerB: { email: "adv-manager-b@example.org", password: "manager-b-pass", id: "", cookie: "" },
  leaving: { email: "adv-leaving@example.org", password: "leaving-pass", id: "", cookie: "" },
  removed: { email: "adv-removed@example.org", password: "removed-pass", id: "", cookie: "" },
  reset: { email: "adv-reset@example.org", password: "reset-pass-1", id: "", cookie: "" },
  signedOut: { email: "adv-signed-out@example.org", password: "signed-out-pass", id: "", cookie: "" },
  burst: { email: "adv-burst@example.org", password: "burst-pass-1", id: "", cookie: "" },
};
let cohortB = "";
let fileA = "";
let fileB = "";

beforeAll(async () => {
  stack = await startFaultStack({
    storageEnv: { IDLE_TIMEOUT_SECONDS: String(IDLE_SECONDS), MAX_UPLOAD_BYTES: String(MAX_UPLOAD) },
    webEnv: { IDLE_TIMEOUT_SECONDS: String(IDLE_SECONDS), MAX_UPLOAD_BYTES: String(MAX_UPLOAD) },
  });
  const { db, close } = createDb(stack.databaseUrl, { max: 2 });
  closeDb = close;
  cohortB = (await ensureCohort(db, { name: "Adversarial Cohort B" })).cohort.id;
  const roles: [keyof typeof people, string, "manager" | "viewer"][] = [
    ["managerA", stack.cohortId, "manager"],
    ["viewerA", stack.cohortId, "viewer"],
    ["managerB", cohortB, "manager"],
    ["leaving", stack.cohortId, "manager"],
    ["removed", stack.cohortId, "manager"],
    ["reset", stack.cohortId, "manager"],
    ["signedOut", stack.cohortId, "manager"],
    ["burst", stack.cohortId, "viewer"],
  ];
  for (const [who, cohortId, role] of roles) {
    const person = people[who];
    const user = await createUser(db, { email: person.email, name: who, password: person.password });
    person.id = user.id;
    await setMembership(db, { userId: user.id, cohortId, role });
  }
  for (const person of Object.values(people)) {
    person.cookie = await stack.signIn({ email: person.email, password: person.password });
  }
  const [admin] = await stack.sql<{ id: string }[]>`select id::text from users where email = ${ADMIN.email}`;
  people.admin.id = admin!.id;
  fileA = (await uploadOk(people.admin.cookie, stack.cohortId, "cohort-a.csv", MAGIC.csv)).id;
  fileB = (await uploadOk(people.admin.cookie, cohortB, "cohort-b.csv", MAGIC.csv)).id;
});

afterAll(async () => {
  writeReport(Date.now() - startedAt, { idleSeconds: IDLE_SECONDS, maxUploadBytes: MAX_UPLOAD });
  await closeDb?.();
  await stack?.stop();
});

// ---------------------------------------------------------------------------------------------------------
// Request helpers

const web = (path: string) => `${stack.webUrl}${path}`;
const storage = (path: string) => `${stack.servicesUrl}${path}`;
const webHost = () => new URL(stack.webUrl).host;
const storageHost = () => new URL(stack.servicesUrl).host;

function upload(cookie: string | null, parts: Part[], extraHeaders: Record<string, string> = {}): Promise<Answer> {
  const form = multipart(parts);
  return call(web("/api/uploads"), {
    method: "POST",
    headers: { ...(cookie ? { cookie } : {}), "content-type": form.contentType, ...extraHeaders },
    body: new Uint8Array(form.body),
  });
}

const fileParts = (cohortId: string, filename: string, content: Buffer | string = MAGIC.csv): Part[] => [
  { name: "cohortId", value: cohortId },
  { name: "kind", value: "submission" },
  { name: "file", filename, content },
];

async function uploadOk(cookie: string, cohortId: string, filename: string, content: Buffer | string) {
  const res = await upload(cookie, fileParts(cohortId, filename, content));
  expect(res.status, res.body).toBe(201);
  const body = JSON.parse(res.body) as { id: string; name: string; size: number; sha256: string };
  expect(body.sha256).toBe(createHash("sha256").update(content).digest("hex"));
  completed.set(body.id, body.sha256);
  return body;
}

async function tusCreate(cookie: string, length: number, filename: string, extra: Record<string, string> = {}) {
  return call(web("/api/uploads/tus/"), {
    method: "POST",
    headers: {
      ...TUS,
      cookie,
      "upload-length": String(length),
      "upload-metadata": metadata({ cohortId: stack.cohortId, kind: "submission", filename }),
      ...extra,
    },
  });
}

async function tusUpload(cookie: string, length: number, filename: string) {
  const res = await tusCreate(cookie, length, filename);
  expect(res.status, res.body).toBe(201);
  return { url: web(res.headers.get("location") ?? ""), fileId: res.headers.get("x-depot-file-id") ?? "" };
}

const tusPatch = (
  url: string,
  cookie: string,
  offset: number | string,
  body: Buffer,
  extra: Record<string, string> = {},
) =>
  call(url, {
    method: "PATCH",
    headers: {
      ...TUS,
      cookie,
      "upload-offset": String(offset),
      "content-type": "application/offset+octet-stream",
      ...extra,
    },
    body: new Uint8Array(body),
  });

async function tusOffset(url: string, cookie = people.admin.cookie) {
  const res = await fetch(url, { method: "HEAD", headers: { ...TUS, cookie } });
  return { status: res.status, offset: res.headers.get("upload-offset") };
}

/** A raw multipart upload to the web: head with the admin's session, then `body` exactly as given. */
type RawOptions = Parameters<typeof rawRequest>[2];

function rawWebUpload(headers: [string, string][], body: Buffer | string = "", options: RawOptions = {}) {
  return rawRequest(
    stack.webUrl,
    [head("POST /api/uploads HTTP/1.1", [["Host", webHost()], ["Cookie", people.admin.cookie], ...headers]), body],
    options,
  );
}

function rawStorageUpload(
  key: string,
  headers: [string, string][],
  body: Buffer | string = "",
  options: RawOptions = {},
) {
  return rawRequest(
    stack.servicesUrl,
    [
      head(`POST /internal/storage/upload?key=${key} HTTP/1.1`, [
        ["Host", storageHost()],
        ["X-Api-Key", stack.apiKey],
        ["Content-Type", "application/octet-stream"],
        ...headers,
      ]),
      body,
    ],
    options,
  );
}

const storageKeyOf = async (id: string) =>
  (await stack.sql<{ storage_key: string }[]>`select storage_key from files where id = ${id}`)[0]?.storage_key ?? "";
const fileRow = async (id: string) =>
  (
    await stack.sql<{ original_name: string; storage_key: string; status: string }[]>`
      select original_name, storage_key, status from files where id = ${id}`
  )[0];
const fileCount = async () => Number((await stack.sql<{ n: string }[]>`select count(*)::text as n from files`)[0]?.n);

/** Runs `attack`, then checks nothing new was stored; the snapshot is taken first. */
async function refusedAndNothingStored<T>(attack: () => Promise<T>): Promise<T> {
  const before: Snapshot = await snapshot(stack);
  const result = await attack();
  await expectNothingStored(stack, before);
  return result;
}

// ---------------------------------------------------------------------------------------------------------

describe("sessions", () => {
  kase("sessions", "no cookie: GET /api/files", "401 unauthorized", async (o) => {
    const res = await call(web("/api/files"));
    o.got = describeAnswer(res.status, res.body);
    expectJsonError(stack, res, 401, "unauthorized");
  });

  kase("sessions", "no cookie: POST /api/uploads", "401, nothing stored", async (o) => {
    const res = await refusedAndNothingStored(() => upload(null, fileParts(stack.cohortId, "anon.csv")));
    o.got = describeAnswer(res.status, res.body);
    expectJsonError(stack, res, 401, "unauthorized");
  });

  kase("sessions", "no cookie: tus creation", "401, no upload created", async (o) => {
    const files = await fileCount();
    const res = await tusCreate("", 10, "anon.csv");
    o.got = describeAnswer(res.status, res.body);
    expectJsonError(stack, res, 401, "unauthorized");
    expect(await fileCount()).toBe(files);
  });

  kase("sessions", "valid cookie with one character changed", "401, nothing stored", async (o) => {
    const value = people.admin.cookie.slice(SESSION_COOKIE.length + 1);
    const at = Math.floor(value.length / 2);
    const tampered = `${value.slice(0, at)}${value[at] === "A" ? "B" : "A"}${value.slice(at + 1)}`;
    const res = await refusedAndNothingStored(() =>
      upload(`${SESSION_COOKIE}=${tampered}`, fileParts(stack.cohortId, "tampered.csv")),
    );
    o.got = describeAnswer(res.status, res.body);
    expectJsonError(stack, res, 401, "unauthorized");
  });

  kase("sessions", "token encrypted with another secret (admin's id)", "401", async (o) => {
    const token = await nextAuthJwt().encode({
      token: { sub: people.admin.id, email: ADMIN.email },
      secret: randomBytes(32).toString("hex"),
      maxAge: 3600,
    });
    const res = await call(web("/api/files"), { headers: { cookie: `${SESSION_COOKIE}=${token}` } });
    o.got = describeAnswer(res.status, res.body);
    expectJsonError(stack, res, 401, "unauthorized");
  });

  kase("sessions", 'unsigned JWT, alg "none" (admin\'s id)', "401", async (o) => {
    const now = Math.floor(Date.now() / 1000);
    const token = `${b64url(JSON.stringify({ alg: "none", typ: "JWT" }))}.${b64url(
      JSON.stringify({ sub: people.admin.id, email: ADMIN.email, iat: now, exp: now + 3600 }),
    )}.`;
    const res = await call(web("/api/files"), { headers: { cookie: `${SESSION_COOKIE}=${token}` } });
    o.got = describeAnswer(res.status, res.body);
    expectJsonError(stack, res, 401, "unauthorized");
  });

  kase("sessions", "token with the right secret but expired an hour ago", "401", async (o) => {
    const token = await nextAuthJwt().encode({
      token: { sub: people.admin.id, email: ADMIN.email },
      secret: stack.authSecret,
      maxAge: -3600,
    });
    const res = await call(web("/api/files"), { headers: { cookie: `${SESSION_COOKIE}=${token}` } });
    o.got = describeAnswer(res.status, res.body);
    expectJsonError(stack, res, 401, "unauthorized");
  });

  kase("sessions", "token with the right secret for a user who does not exist", "401", async (o) => {
    const token = await nextAuthJwt().encode({
      token: { sub: randomUUID(), email: "ghost@example.org" },
      secret: stack.authSecret,
      maxAge: 3600,
    });
    const res = await call(web("/api/files"), { headers: { cookie: `${SESSION_COOKIE}=${token}` } });
    o.got = describeAnswer(res.status, res.body);
    expectJsonError(stack, res, 401, "unauthorized");
  });

  kase("sessions", "10 KiB of garbage as the session cookie", "401", async (o) => {
    const res = await call(web("/api/files"), { headers: { cookie: `${SESSION_COOKIE}=${"A".repeat(10 * KiB)}` } });
    o.got = describeAnswer(res.status, res.body);
    expectJsonError(stack, res, 401, "unauthorized");
  });

  kase(
    "sessions",
    "deactivated user's still-valid cookie",
    "200 before; 401 on the next request, nothing stored",
    async (o) => {
      const cookie = people.leaving.cookie;
      const before = await call(web("/api/files"), { headers: { cookie } });
      expect(before.status).toBe(200);
      await stack.sql`update users set is_active = false where id = ${people.leaving.id}`;
      const list = await call(web("/api/files"), { headers: { cookie } });
      const up = await refusedAndNothingStored(() => upload(cookie, fileParts(stack.cohortId, "after-leaving.csv")));
      o.got = `before ${before.status}; after: list ${describeAnswer(list.status, list.body)}; upload ${up.status}`;
      expectJsonError(stack, list, 401, "unauthorized");
      expectJsonError(stack, up, 401, "unauthorized");
    },
  );

  kase(
    "sessions",
    "cookie of someone whose membership was removed",
    "403 on the next upload, nothing stored",
    async (o) => {
      await stack.sql`delete from cohort_memberships where user_id = ${people.removed.id}`;
      const res = await refusedAndNothingStored(() =>
        upload(people.removed.cookie, fileParts(stack.cohortId, "after-removal.csv")),
      );
      o.got = describeAnswer(res.status, res.body);
      expectJsonError(stack, res, 403, "forbidden");
    },
  );

  kase("sessions", "valid cookie, cross-site Origin (CSRF)", "403, nothing stored", async (o) => {
    const res = await refusedAndNothingStored(() =>
      upload(people.admin.cookie, fileParts(stack.cohortId, "csrf.csv"), { origin: "http://evil.example" }),
    );
    o.got = describeAnswer(res.status, res.body);
    expectJsonError(stack, res, 403, "forbidden");
  });

  kase("sessions", "valid cookie, Sec-Fetch-Site: cross-site on DELETE", "403, file kept", async (o) => {
    const res = await call(web(`/api/files/${fileA}`), {
      method: "DELETE",
      headers: { cookie: people.admin.cookie, "sec-fetch-site": "cross-site" },
    });
    o.got = describeAnswer(res.status, res.body);
    expectJsonError(stack, res, 403, "forbidden");
    expect((await fileRow(fileA))?.status).toBe("stored");
  });
});

describe("authorization", () => {
  kase("authorization", "manager of A downloads a cohort B file", "403", async (o) => {
    const res = await call(web(`/api/files/${fileB}/download`), { headers: { cookie: people.managerA.cookie } });
    o.got = describeAnswer(res.status, res.body);
    expectJsonError(stack, res, 403, "forbidden");
  });

  kase("authorization", "manager of A deletes a cohort B file", "403, file and object kept", async (o) => {
    const res = await call(web(`/api/files/${fileB}`), {
      method: "DELETE",
      headers: { cookie: people.managerA.cookie },
    });
    o.got = describeAnswer(res.status, res.body);
    expectJsonError(stack, res, 403, "forbidden");
    expect((await fileRow(fileB))?.status).toBe("stored");
    expect(existsSync(join(stack.storageRoot, await storageKeyOf(fileB)))).toBe(true);
  });

  kase("authorization", "manager of A reads a cohort B file's details", "403", async (o) => {
    const res = await call(web(`/api/files/${fileB}`), { headers: { cookie: people.managerA.cookie } });
    o.got = describeAnswer(res.status, res.body);
    expectJsonError(stack, res, 403, "forbidden");
  });

  kase("authorization", "manager of A lists with cohortId = B", "200 without cohort B's files", async (o) => {
    const res = await call(web(`/api/files?cohortId=${cohortB}`), { headers: { cookie: people.managerA.cookie } });
    const body = JSON.parse(res.body) as { files: { id: string }[] };
    o.got = `${res.status}, ${body.files.length} files`;
    expect(res.status).toBe(200);
    expect(body.files.map((f) => f.id)).not.toContain(fileB);
  });

  kase("authorization", "manager of A uploads into cohort B", "403, nothing stored", async (o) => {
    const res = await refusedAndNothingStored(() => upload(people.managerA.cookie, fileParts(cohortB, "b.csv")));
    o.got = describeAnswer(res.status, res.body);
    expectJsonError(stack, res, 403, "forbidden");
  });

  kase("authorization", "viewer of A uploads into A", "403, nothing stored", async (o) => {
    const res = await refusedAndNothingStored(() =>
      upload(people.viewerA.cookie, fileParts(stack.cohortId, "viewer.csv")),
    );
    o.got = describeAnswer(res.status, res.body);
    expectJsonError(stack, res, 403, "forbidden");
  });

  kase("authorization", "viewer of A deletes an A file", "403, file kept", async (o) => {
    const res = await call(web(`/api/files/${fileA}`), {
      method: "DELETE",
      headers: { cookie: people.viewerA.cookie },
    });
    o.got = describeAnswer(res.status, res.body);
    expectJsonError(stack, res, 403, "forbidden");
    expect((await fileRow(fileA))?.status).toBe("stored");
  });

  kase("authorization", "upload into a cohort id that does not exist", "404, nothing stored", async (o) => {
    const res = await refusedAndNothingStored(() => upload(people.admin.cookie, fileParts(randomUUID(), "x.csv")));
    o.got = describeAnswer(res.status, res.body);
    expectJsonError(stack, res, 404, "not_found");
  });

  kase("authorization", 'cohortId "../../etc" and kind "root"', "400/404, nothing stored", async (o) => {
    const a = await refusedAndNothingStored(() => upload(people.admin.cookie, fileParts("../../etc", "x.csv")));
    const b = await refusedAndNothingStored(() =>
      upload(people.admin.cookie, [
        { name: "cohortId", value: stack.cohortId },
        { name: "kind", value: "root" },
        { name: "file", filename: "x.csv", content: MAGIC.csv },
      ]),
    );
    o.got = `${describeAnswer(a.status, a.body)}; ${describeAnswer(b.status, b.body)}`;
    expectJsonError(stack, a, 404, "not_found");
    expectJsonError(stack, b, 400, "bad_request");
  });

  kase("authorization", "file id that is not a uuid (SQL / traversal text)", "404", async (o) => {
    const res = await call(web(`/api/files/${encodeURIComponent("' OR 1=1--")}/download`), {
      headers: { cookie: people.admin.cookie },
    });
    const res2 = await call(web("/api/files/..%2f..%2fetc%2fpasswd/download"), {
      headers: { cookie: people.admin.cookie },
    });
    o.got = `${describeAnswer(res.status, res.body)}; ${res2.status}`;
    expectJsonError(stack, res, 404, "not_found");
    expect(res2.status).toBe(404);
    expectNoLeak(stack, res2.body);
  });

  describe("someone else's tus upload", () => {
    let url = "";
    beforeAll(async () => {
      url = (await tusUpload(people.admin.cookie, 100, "admins-upload.csv")).url;
    });

    for (const method of ["HEAD", "PATCH", "DELETE"] as const) {
      kase(
        "authorization",
        `another manager of the same cohort: ${method} on the admin's tus upload`,
        "403, upload untouched",
        async (o) => {
          const res = await call(url, {
            method,
            headers: {
              ...TUS,
              cookie: people.managerA.cookie,
              ...(method === "PATCH"
                ? { "upload-offset": "0", "content-type": "application/offset+octet-stream" }
                : {}),
            },
            ...(method === "PATCH" ? { body: new Uint8Array(Buffer.alloc(100, 0x61)) } : {}),
          });
          o.got = describeAnswer(res.status, res.body);
          if (method === "HEAD") expect(res.status).toBe(403);
          else expectJsonError(stack, res, 403, "forbidden");
          expect(await tusOffset(url)).toEqual({ status: 200, offset: "0" });
        },
      );
    }

    kase("authorization", "manager of cohort B: PATCH on the admin's tus upload", "403", async (o) => {
      const res = await tusPatch(url, people.managerB.cookie, 0, Buffer.alloc(10));
      o.got = describeAnswer(res.status, res.body);
      expectJsonError(stack, res, 403, "forbidden");
    });

    kase("authorization", "tus upload id that does not exist, and one with ../ in it", "404", async (o) => {
      const a = await call(web(`/api/uploads/tus/${randomBytes(16).toString("hex")}`), {
        method: "DELETE",
        headers: { ...TUS, cookie: people.admin.cookie },
      });
      const b = await call(web("/api/uploads/tus/..%2F..%2Finternal%2Ftus"), {
        method: "DELETE",
        headers: { ...TUS, cookie: people.admin.cookie },
      });
      o.got = `${describeAnswer(a.status, a.body)}; ${describeAnswer(b.status, b.body)}`;
      expectJsonError(stack, a, 404, "not_found");
      expect(b.status).toBe(404);
      expectNoLeak(stack, b.body);
    });
  });

  kase("authorization", "manager asks for the administrators' cleanup preview", "403", async (o) => {
    const res = await call(web("/api/maintenance/cleanup-preview"), {
      method: "POST",
      headers: { cookie: people.managerA.cookie },
    });
    o.got = describeAnswer(res.status, res.body);
    expectJsonError(stack, res, 403, "forbidden");
  });
});

describe("internal API key", () => {
  const health = "/internal/storage/health";
  const cases: [string, Record<string, string>, string][] = [
    ["absent", {}, health],
    ["wrong, same length", { "x-api-key": "0".repeat(48) }, health],
    ["wrong, longer (right key plus one character)", { "x-api-key": "" }, health],
    ["wrong, three characters", { "x-api-key": "abc" }, health],
    ["as Authorization: Bearer", { authorization: "" }, health],
  ];
  for (const [name, headers, path] of cases) {
    kase("storage key", `${name}: GET ${path}`, "401 unauthorized", async (o) => {
      const h = { ...headers };
      if (h["x-api-key"] === "") h["x-api-key"] = `${stack.apiKey}x`;
      if (h.authorization === "") h.authorization = `Bearer ${stack.apiKey}`;
      const res = await call(storage(path), { headers: h });
      o.got = describeAnswer(res.status, res.body);
      expectJsonError(stack, res, 401, "unauthorized");
    });
  }

  kase("storage key", "empty X-Api-Key header (raw socket)", "401", async (o) => {
    const res = await rawRequest(
      stack.servicesUrl,
      head(`GET ${health} HTTP/1.1`, [
        ["Host", storageHost()],
        ["X-Api-Key", ""],
      ]),
    );
    o.got = describeRaw(res);
    expectJsonError(stack, res, 401, "unauthorized");
  });

  kase("storage key", "the right key sent twice (raw socket)", "401 (joined value does not match)", async (o) => {
    const res = await rawRequest(
      stack.servicesUrl,
      head(`GET ${health} HTTP/1.1`, [
        ["Host", storageHost()],
        ["X-Api-Key", stack.apiKey],
        ["X-Api-Key", stack.apiKey],
      ]),
    );
    o.got = describeRaw(res);
    expectJsonError(stack, res, 401, "unauthorized");
  });

  for (const param of ["x-api-key", "api_key", "apiKey"]) {
    kase("storage key", `right key in the query string (?${param}=)`, "401", async (o) => {
      const res = await call(storage(`${health}?${param}=${stack.apiKey}`));
      o.got = describeAnswer(res.status, res.body);
      expectJsonError(stack, res, 401, "unauthorized");
    });
  }

  kase("storage key", "upload with a wrong key", "401, nothing stored", async (o) => {
    const res = await refusedAndNothingStored(() =>
      call(storage("/internal/storage/upload?key=adv/wrong-key"), {
        method: "POST",
        headers: { "x-api-key": "0".repeat(48), "content-type": "application/octet-stream" },
        body: new Uint8Array(randomBytes(64 * KiB)),
      }),
    );
    o.got = describeAnswer(res.status, res.body);
    expectJsonError(stack, res, 401, "unauthorized");
  });

  kase("storage key", "tus creation and delete_prefix with no key", "401, nothing changed", async (o) => {
    const a = await call(storage("/internal/tus/"), {
      method: "POST",
      headers: { ...TUS, "upload-length": "10", "x-depot-file-id": randomUUID() },
    });
    const b = await refusedAndNothingStored(() =>
      call(storage(`/internal/storage/delete_prefix?prefix=${stack.cohortId}/`), { method: "POST" }),
    );
    o.got = `${describeAnswer(a.status, a.body)}; ${describeAnswer(b.status, b.body)}`;
    expectJsonError(stack, a, 401, "unauthorized");
    expectJsonError(stack, b, 401, "unauthorized");
    expect((await fileRow(fileA))?.status).toBe("stored");
    expect(existsSync(join(stack.storageRoot, await storageKeyOf(fileA)))).toBe(true);
  });

  kase(
    "storage key",
    "the web's public port does not expose /internal/* (right key sent)",
    "404 for health, tus, upload",
    async (o) => {
      const a = await call(web(health), { headers: { "x-api-key": stack.apiKey } });
      const b = await call(web("/internal/tus/"), { method: "POST", headers: { ...TUS, "x-api-key": stack.apiKey } });
      const c = await refusedAndNothingStored(() =>
        call(web("/internal/storage/upload?key=adv/web-port"), {
          method: "POST",
          headers: { "x-api-key": stack.apiKey },
          body: "hello",
        }),
      );
      o.got = `${a.status}, ${b.status}, ${c.status}`;
      for (const res of [a, b, c]) {
        expect(res.status).toBe(404);
        expectNoLeak(stack, res.body);
      }
    },
  );

  kase(
    "storage key",
    "web port, raw path tricks: /api/../internal/..., //internal/..., //evil.example/, /\\evil.example/, %2e%2e",
    "404 or 400, or a 308 to a path on the same site (never an open redirect), never storage",
    async (o) => {
      const got: string[] = [];
      for (const target of [
        `/api/../internal/storage/health`,
        `//internal/storage/health`,
        `/api/%2e%2e/internal/storage/health`,
        `/_next/../internal/storage/health`,
        `//evil.example/`,
        `/\\evil.example/`,
      ]) {
        const res = await rawRequest(
          stack.webUrl,
          head(`GET ${target} HTTP/1.1`, [
            ["Host", webHost()],
            ["X-Api-Key", stack.apiKey],
            ["Connection", "close"],
          ]),
        );
        const location = res.headers.location ?? "";
        got.push(`${res.status}${location ? ` → ${location}` : ""}`);
        expect([308, 400, 404]).toContain(res.status);
        if (res.status === 308) expect(location).toMatch(/^\/(?![/\\])/);
        expect(res.raw).not.toMatch(/"disks"|"database"/);
        expectNoLeak(stack, res.raw);
      }
      o.got = got.join(", ");
    },
  );

  kase(
    "storage key",
    "spoofed client address and actor headers through the web",
    "audit records the socket address and the session's user",
    async (o) => {
      const res = await upload(people.admin.cookie, fileParts(stack.cohortId, "spoofed.csv"), {
        "x-depot-client-ip": "6.6.6.6",
        "x-forwarded-for": "6.6.6.6",
        "x-real-ip": "6.6.6.6",
        "x-depot-actor-user-id": people.managerB.id,
        "x-request-id": "attacker-chosen-id",
      });
      expect(res.status).toBe(201);
      const { id, sha256 } = JSON.parse(res.body) as { id: string; sha256: string };
      completed.set(id, sha256);
      const rows = await stack.sql<{ actor_ip: string; actor_user_id: string; request_id: string }[]>`
      select actor_ip, actor_user_id::text, request_id from phi_file_tracking where file_id = ${id}`;
      o.got = `${res.status}; audit ips ${[...new Set(rows.map((r) => r.actor_ip))].join(",")}`;
      expect(rows.length).toBeGreaterThanOrEqual(2);
      for (const row of rows) {
        expect(row.actor_ip).not.toBe("6.6.6.6");
        expect(row.actor_user_id).toBe(people.admin.id);
        expect(row.request_id).not.toBe("attacker-chosen-id");
      }
    },
  );
});

describe("direct storage keys (right API key)", () => {
  const keys = ["../escape", "..%2Fescape", "%2e%2e/escape", "/etc/passwd", "a/../../escape", "a%00b", "a\\..\\b"];
  for (const key of keys) {
    kase("direct storage", `upload to key ${JSON.stringify(key)}`, "400 invalid_key, nothing written", async (o) => {
      const res = await refusedAndNothingStored(() =>
        call(storage(`/internal/storage/upload?key=${key.includes("%") ? key : encodeURIComponent(key)}`), {
          method: "POST",
          headers: { "x-api-key": stack.apiKey, "content-type": "application/octet-stream" },
          body: "escaped!",
        }),
      );
      o.got = describeAnswer(res.status, res.body);
      expectJsonError(stack, res, 400, "invalid_key");
      expect(existsSync(join(stack.storageRoot, "..", "escape"))).toBe(false);
    });
  }

  kase(
    "direct storage",
    "download ../postgres/PG_VERSION and delete ../postgres/PG_VERSION",
    "400 invalid_key, file untouched, audited as denied",
    async (o) => {
      // The database's own files, beside the storage root.
      const target = join(stack.postgresDir, "PG_VERSION");
      const key = encodeURIComponent(`../${relative(join(stack.storageRoot, ".."), stack.postgresDir)}/PG_VERSION`);
      expect(existsSync(target)).toBe(true);
      const a = await call(storage(`/internal/storage/download?key=${key}`), {
        headers: { "x-api-key": stack.apiKey },
      });
      const b = await call(storage(`/internal/storage/delete?key=${key}`), {
        method: "POST",
        headers: { "x-api-key": stack.apiKey },
      });
      o.got = `${describeAnswer(a.status, a.body)}; delete ${b.status}`;
      expectJsonError(stack, a, 400, "invalid_key");
      expectJsonError(stack, b, 400, "invalid_key");
      expect(existsSync(target)).toBe(true);
      const denied = await stack.sql`
      select 1 from phi_file_tracking where server_role = 'services' and outcome = 'denied' and error = 'invalid_key'`;
      expect(denied.length).toBeGreaterThanOrEqual(2);
    },
  );

  kase("direct storage", "delete_prefix of / and of *, list of ..", "400, nothing removed", async (o) => {
    const got: string[] = [];
    for (const [method, path] of [
      ["POST", "/internal/storage/delete_prefix?prefix=%2F"],
      ["POST", "/internal/storage/delete_prefix?prefix=*"],
      ["GET", "/internal/storage/list?prefix=..%2F"],
    ] as const) {
      const res = await refusedAndNothingStored(() =>
        call(storage(path), { method, headers: { "x-api-key": stack.apiKey } }),
      );
      got.push(String(res.status));
      expectJsonError(stack, res, 400);
    }
    o.got = got.join(", ");
    expect(existsSync(join(stack.storageRoot, await storageKeyOf(fileA)))).toBe(true);
  });

  kase("direct storage", "X-Depot-File-Id that is not a uuid", "400, nothing stored", async (o) => {
    const res = await refusedAndNothingStored(() =>
      call(storage("/internal/storage/upload"), {
        method: "POST",
        headers: { "x-api-key": stack.apiKey, "x-depot-file-id": "../../etc/passwd" },
        body: "x",
      }),
    );
    o.got = describeAnswer(res.status, res.body);
    expectJsonError(stack, res, 400, "bad_request");
  });

  kase(
    "direct storage",
    "re-upload over an already stored file (its file id)",
    "409 conflict, object unchanged",
    async (o) => {
      const key = join(stack.storageRoot, await storageKeyOf(fileA));
      const res = await call(storage("/internal/storage/upload"), {
        method: "POST",
        headers: { "x-api-key": stack.apiKey, "x-depot-file-id": fileA },
        body: "overwritten",
      });
      o.got = describeAnswer(res.status, res.body);
      expectJsonError(stack, res, 409, "conflict");
      const { readFileSync } = await import("node:fs");
      expect(readFileSync(key).equals(MAGIC.csv)).toBe(true);
    },
  );
});

describe("headers that lie", () => {
  const idleLimitMs = (IDLE_SECONDS + 4) * 1000;

  kase(
    "framing",
    "web: Content-Length larger than the body, then silence",
    `connection closed within the idle timeout (${IDLE_SECONDS} s), no 2xx, nothing stored`,
    async (o) => {
      const form = multipart(fileParts(stack.cohortId, "short-body.csv", randomBytes(32 * KiB)));
      const res = await refusedAndNothingStored(() =>
        rawWebUpload(
          [
            ["Content-Type", form.contentType],
            ["Content-Length", String(form.body.length + 10_000)],
          ],
          form.body,
          { waitForClose: true, timeoutMs: idleLimitMs + 10_000 },
        ),
      );
      o.got = `${res.status ?? "no answer"}; closed after ${(res.ms / 1000).toFixed(1)} s`;
      expect(res.timedOut).toBe(false);
      expect(res.ms).toBeLessThan(idleLimitMs);
      if (res.status !== null) expect(res.status).toBeGreaterThanOrEqual(400);
      if (res.status !== null) expect(res.status).toBeLessThan(500);
      expectNoLeak(stack, res.raw);
    },
  );

  kase(
    "framing",
    "storage: Content-Length larger than the body, then silence",
    `closed within the idle timeout, nothing stored, aborted upload audited`,
    async (o) => {
      const res = await refusedAndNothingStored(() =>
        rawStorageUpload("adv/short-body", [["Content-Length", String(20_000)]], randomBytes(10_000), {
          waitForClose: true,
          timeoutMs: idleLimitMs + 10_000,
        }),
      );
      o.got = `${res.status ?? "no answer"}; closed after ${(res.ms / 1000).toFixed(1)} s`;
      expect(res.timedOut).toBe(false);
      expect(res.ms).toBeLessThan(idleLimitMs);
      if (res.status !== null) expect(res.status).toBeLessThan(500);
      const rows = await stack.sql`
      select 1 from phi_file_tracking where storage_key = 'adv/short-body' and action = 'stream_upload_aborted'`;
      expect(rows.length).toBe(1);
    },
  );

  kase(
    "framing",
    "web: Content-Length smaller than the body (cuts the closing boundary)",
    "400 (the route's, or Node's for the leftover bytes), nothing stored",
    async (o) => {
      const form = multipart(fileParts(stack.cohortId, "long-body.csv", randomBytes(8 * KiB)));
      const res = await refusedAndNothingStored(() =>
        rawWebUpload(
          [
            ["Content-Type", form.contentType],
            ["Content-Length", String(form.body.length - 30)],
          ],
          form.body,
        ),
      );
      o.got = describeRaw(res);
      // Node parses the 30 leftover bytes as the next request and, finding garbage, answers 400 itself and
      // closes the connection before the route's own 400 is written; either answer is a clear refusal.
      if (res.body) expectJsonError(stack, res, 400, "bad_request");
      else expectProtocolRefusal(stack, res, 400);
    },
  );

  kase(
    "framing",
    "storage: Content-Length 5 with a 10-byte body whose tail is another request",
    "201 for exactly the 5 declared bytes; the tail is parsed as a new request and refused (400)",
    async (o) => {
      const res = await rawStorageUpload(
        "adv/declared-five",
        [["Content-Length", "5"]],
        "01234GET /x HTTP/1.1\r\n\r\n",
        {
          waitForClose: true,
          timeoutMs: 3_000,
        },
      );
      o.got = `${describeRaw(res)}; then ${/HTTP\/1\.1 (\d+)[\s\S]*HTTP\/1\.1 (\d+)/.exec(res.raw)?.[2] ?? "nothing"}`;
      expect(res.status).toBe(201);
      expect(JSON.parse(res.body)).toMatchObject({ size: 5 });
      expect(/HTTP\/1\.1 201[\s\S]*HTTP\/1\.1 (400|401)/.test(res.raw)).toBe(true);
      await call(storage("/internal/storage/delete?key=adv/declared-five"), {
        method: "POST",
        headers: { "x-api-key": stack.apiKey },
      });
    },
  );

  const lies: [string, [string, string][], string][] = [
    ["negative Content-Length", [["Content-Length", "-1"]], "abc"],
    ["non-numeric Content-Length", [["Content-Length", "ten"]], "abc"],
    [
      "two conflicting Content-Length headers",
      [
        ["Content-Length", "3"],
        ["Content-Length", "30"],
      ],
      "abc",
    ],
    ["Content-Length with a comma list", [["Content-Length", "3, 30"]], "abc"],
    [
      "Transfer-Encoding: chunked together with Content-Length",
      [
        ["Transfer-Encoding", "chunked"],
        ["Content-Length", "3"],
      ],
      "3\r\nabc\r\n0\r\n\r\n",
    ],
    ["malformed chunked encoding (size not hex)", [["Transfer-Encoding", "chunked"]], "zz\r\nabc\r\n0\r\n\r\n"],
    ["chunk longer than its size line", [["Transfer-Encoding", "chunked"]], "3\r\nabcdefgh\r\n0\r\n\r\n"],
    ["Transfer-Encoding: gzip (not chunked last)", [["Transfer-Encoding", "gzip"]], "abc"],
    ["space before the colon (Content-Length : 3)", [["Content-Length ", "3"]], "abc"],
  ];
  for (const [tier, send] of [
    [
      "web",
      (h: [string, string][], b: string) =>
        rawWebUpload([["Content-Type", "multipart/form-data; boundary=x"], ...h], b),
    ],
    ["storage", (h: [string, string][], b: string) => rawStorageUpload("adv/lie", h, b)],
  ] as const) {
    for (const [name, headers, body] of lies) {
      kase("framing", `${tier}: ${name}`, "400 from the HTTP parser, nothing stored", async (o) => {
        const res = await refusedAndNothingStored(() => send(headers, body));
        o.got = describeRaw(res);
        expectProtocolRefusal(stack, res, 400);
      });
    }
  }

  for (const [tier, url, host] of [
    ["web", () => stack.webUrl, webHost],
    ["storage", () => stack.servicesUrl, storageHost],
  ] as const) {
    kase("framing", `${tier}: 70 KiB of headers`, "431, nothing stored", async (o) => {
      const res = await refusedAndNothingStored(() =>
        rawRequest(
          url(),
          head("POST /api/uploads HTTP/1.1", [
            ["Host", host()],
            ["X-Api-Key", stack.apiKey],
            ["X-Padding", "p".repeat(70 * KiB)],
            ["Content-Length", "0"],
          ]),
        ),
      );
      o.got = describeRaw(res);
      expectProtocolRefusal(stack, res, 431);
    });

    kase(
      "framing",
      `${tier}: half a request line, then silence (slowloris)`,
      `closed within the idle timeout (${IDLE_SECONDS} s)`,
      async (o) => {
        const res = await rawRequest(url(), "POST /api/uplo", { waitForClose: true, timeoutMs: idleLimitMs + 10_000 });
        o.got = `${res.status ?? "no answer"}; closed after ${(res.ms / 1000).toFixed(1)} s`;
        expect(res.timedOut).toBe(false);
        expect(res.ms).toBeLessThan(idleLimitMs);
      },
    );

    kase("framing", `${tier}: a TLS ClientHello on the plain-HTTP port`, "400, connection closed", async (o) => {
      const hello = Buffer.from("16030100a5010000a10303", "hex");
      const res = await rawRequest(url(), [hello, randomBytes(160)], { waitForClose: true, timeoutMs: 5_000 });
      o.got = describeRaw(res);
      expectProtocolRefusal(stack, res, 400);
    });
  }
});

describe("broken multipart", () => {
  const admin = () => people.admin.cookie;

  kase("multipart", "multipart/form-data without a boundary", "400, nothing stored", async (o) => {
    const form = multipart(fileParts(stack.cohortId, "x.csv"));
    const res = await refusedAndNothingStored(() =>
      call(web("/api/uploads"), {
        method: "POST",
        headers: { cookie: admin(), "content-type": "multipart/form-data" },
        body: new Uint8Array(form.body),
      }),
    );
    o.got = describeAnswer(res.status, res.body);
    expectJsonError(stack, res, 400, "bad_request");
  });

  kase("multipart", "JSON body instead of multipart", "400, nothing stored", async (o) => {
    const res = await refusedAndNothingStored(() =>
      call(web("/api/uploads"), {
        method: "POST",
        headers: { cookie: admin(), "content-type": "application/json" },
        body: JSON.stringify({ cohortId: stack.cohortId, kind: "submission", file: "a,b\n1,2" }),
      }),
    );
    o.got = describeAnswer(res.status, res.body);
    expectJsonError(stack, res, 400, "bad_request");
  });

  kase("multipart", "truncated body (file part never ends)", "400, nothing stored", async (o) => {
    const form = multipart(fileParts(stack.cohortId, "truncated.csv", randomBytes(64 * KiB)));
    const cut = form.body.subarray(0, form.body.length - 200);
    const res = await refusedAndNothingStored(() =>
      call(web("/api/uploads"), {
        method: "POST",
        headers: { cookie: admin(), "content-type": form.contentType },
        body: new Uint8Array(cut),
      }),
    );
    o.got = describeAnswer(res.status, res.body);
    expectJsonError(stack, res, 400, "bad_request");
  });

  kase("multipart", "empty body", "400, nothing stored", async (o) => {
    const res = await refusedAndNothingStored(() =>
      call(web("/api/uploads"), {
        method: "POST",
        headers: { cookie: admin(), "content-type": "multipart/form-data; boundary=x" },
        body: "",
      }),
    );
    o.got = describeAnswer(res.status, res.body);
    expectJsonError(stack, res, 400, "bad_request");
  });

  kase("multipart", "fields only, no file part", "400, nothing stored", async (o) => {
    const res = await refusedAndNothingStored(() =>
      upload(admin(), [
        { name: "cohortId", value: stack.cohortId },
        { name: "kind", value: "submission" },
      ]),
    );
    o.got = describeAnswer(res.status, res.body);
    expectJsonError(stack, res, 400, "bad_request");
  });

  kase("multipart", "two file parts", "400, nothing kept (the first file removed again)", async (o) => {
    const files = await fileCount();
    const res = await refusedAndNothingStored(() =>
      upload(admin(), [
        ...fileParts(stack.cohortId, "first.csv", randomBytes(16 * KiB)),
        { name: "file2", filename: "second.csv", content: randomBytes(16 * KiB) },
      ]),
    );
    o.got = describeAnswer(res.status, res.body);
    expectJsonError(stack, res, 400, "bad_request");
    const rows = await stack.sql<{ status: string }[]>`
      select status from files order by created_at desc limit ${(await fileCount()) - files}`;
    for (const row of rows) expect(row.status).not.toBe("stored");
  });

  kase("multipart", "a 2 KiB field value (cohortId)", "400 field too long, nothing stored", async (o) => {
    const res = await refusedAndNothingStored(() =>
      upload(admin(), [
        { name: "cohortId", value: `${stack.cohortId}${"x".repeat(2 * KiB)}` },
        { name: "kind", value: "submission" },
        { name: "file", filename: "x.csv", content: MAGIC.csv },
      ]),
    );
    o.got = describeAnswer(res.status, res.body);
    expectJsonError(stack, res, 400, "bad_request");
  });

  kase("multipart", "fields after the file", "400 (cohortId must come first), nothing stored", async (o) => {
    const res = await refusedAndNothingStored(() =>
      upload(admin(), [
        { name: "file", filename: "x.csv", content: MAGIC.csv },
        { name: "cohortId", value: stack.cohortId },
        { name: "kind", value: "submission" },
      ]),
    );
    o.got = describeAnswer(res.status, res.body);
    expectJsonError(stack, res, 400, "bad_request");
  });

  kase("multipart", "50 extra fields", "400 too many fields, nothing stored", async (o) => {
    const extra = Array.from({ length: 50 }, (_, i) => ({ name: `f${i}`, value: "v" }));
    const res = await refusedAndNothingStored(() => upload(admin(), [...extra, ...fileParts(stack.cohortId, "x.csv")]));
    o.got = describeAnswer(res.status, res.body);
    expectJsonError(stack, res, 400, "bad_request");
  });

  kase("multipart", "declared size over MAX_UPLOAD_BYTES", "413 before reading the body, nothing stored", async (o) => {
    const res = await refusedAndNothingStored(() =>
      rawWebUpload(
        [
          ["Content-Type", "multipart/form-data; boundary=x"],
          ["Content-Length", String(MAX_UPLOAD + 1 * MiB)],
        ],
        "--x\r\n",
      ),
    );
    o.got = describeRaw(res);
    expectJsonError(stack, res, 413, "too_large");
  });

  kase(
    "multipart",
    "chunked body (no length) that streams past MAX_UPLOAD_BYTES",
    "413 while streaming with Connection: close, nothing stored; the client's next request works",
    async (o) => {
      const content = randomBytes(MAX_UPLOAD + 512 * KiB);
      const form = multipart(fileParts(stack.cohortId, "too-big.csv", content));
      const res = await refusedAndNothingStored(() =>
        call(web("/api/uploads"), {
          method: "POST",
          headers: { cookie: admin(), "content-type": form.contentType },
          body: new ReadableStream({
            start(controller) {
              for (let at = 0; at < form.body.length; at += 256 * KiB)
                controller.enqueue(new Uint8Array(form.body.subarray(at, at + 256 * KiB)));
              controller.close();
            },
          }),
          duplex: "half",
        } as RequestInit),
      );
      // The same client (fetch's connection pool) asks again at once: it must not get a dropped connection.
      const next = await call(web("/api/files"), { headers: { cookie: admin() } }).catch(
        (error: Error) => ({ status: 0, body: String((error.cause as Error | undefined)?.message ?? error) }) as Answer,
      );
      o.got = `${describeAnswer(res.status, res.body)}, connection: ${res.headers.get("connection")}; next request ${next.status || next.body}`;
      expectJsonError(stack, res, 413, "too_large");
      expect(res.headers.get("connection")).toBe("close");
      expect(next.status).toBe(200);
    },
  );
});

describe("tus abuse", () => {
  let url = "";
  const admin = () => people.admin.cookie;
  const LENGTH = 1000;
  const data = randomBytes(LENGTH);

  beforeAll(async () => {
    url = (await tusUpload(people.admin.cookie, LENGTH, "tus-abuse.csv")).url;
  });

  kase("tus", "creation without Tus-Resumable", "412 with Tus-Version, no upload created", async (o) => {
    const files = await fileCount();
    const res = await call(web("/api/uploads/tus/"), {
      method: "POST",
      headers: {
        cookie: admin(),
        "upload-length": "10",
        "upload-metadata": metadata({ cohortId: stack.cohortId, kind: "submission", filename: "v.csv" }),
      },
    });
    o.got = describeAnswer(res.status, res.body);
    expectJsonError(stack, res, 412, "unsupported_version");
    expect(res.headers.get("tus-version")).toBe(TUS_VERSION);
    expect(await fileCount()).toBe(files);
  });

  kase("tus", "creation with Tus-Resumable: 0.2.2", "412, no upload created", async (o) => {
    const files = await fileCount();
    const res = await tusCreate(admin(), 10, "v.csv", { "tus-resumable": "0.2.2" });
    o.got = describeAnswer(res.status, res.body);
    expectJsonError(stack, res, 412, "unsupported_version");
    expect(await fileCount()).toBe(files);
  });

  kase("tus", "PATCH without Tus-Resumable", "412, offset unchanged", async (o) => {
    const res = await call(url, {
      method: "PATCH",
      headers: { cookie: admin(), "upload-offset": "0", "content-type": "application/offset+octet-stream" },
      body: new Uint8Array(data.subarray(0, 100)),
    });
    o.got = describeAnswer(res.status, res.body);
    expectJsonError(stack, res, 412, "unsupported_version");
    expect((await tusOffset(url)).offset).toBe("0");
  });

  kase("tus", "Upload-Length over MAX_UPLOAD_BYTES", "413, no upload created", async (o) => {
    const files = await fileCount();
    const res = await tusCreate(admin(), MAX_UPLOAD + 1, "huge.csv");
    o.got = describeAnswer(res.status, res.body);
    expectJsonError(stack, res, 413, "too_large");
    expect(await fileCount()).toBe(files);
  });

  for (const [name, length] of [
    ["negative", "-1"],
    ["non-numeric", "1e3"],
    ["empty", ""],
    ["20 digits", "99999999999999999999"],
  ]) {
    kase("tus", `Upload-Length ${name} (${JSON.stringify(length)})`, "400, no upload created", async (o) => {
      const files = await fileCount();
      const res = await tusCreate(admin(), 0, "len.csv", { "upload-length": length as string });
      o.got = describeAnswer(res.status, res.body);
      expectJsonError(stack, res, 400, "bad_request");
      expect(await fileCount()).toBe(files);
    });
  }

  kase(
    "tus",
    "Upload-Defer-Length instead of a length",
    "201 (creation-defer-length), the length is declared by a later PATCH",
    async (o) => {
      const res = await call(web("/api/uploads/tus/"), {
        method: "POST",
        headers: {
          ...TUS,
          cookie: admin(),
          "upload-defer-length": "1",
          "upload-metadata": metadata({ cohortId: stack.cohortId, kind: "submission", filename: "d.csv" }),
        },
      });
      const head = res.status === 201 ? await tusOffset(web(res.headers.get("location") ?? "")) : undefined;
      o.got = `${describeAnswer(res.status, res.body)}; HEAD ${head?.status}`;
      expect(res.status).toBe(201);
      expect(head?.offset).toBe("0");
    },
  );

  const badMetadata: [string, string][] = [
    ["value not base64", "kind c3VibWlzc2lvbg==,filename not*base64!"],
    ["key repeated", "filename YS5jc3Y=,filename Yi5jc3Y="],
    ["three words in a pair", "filename YS5jc3Y= extra"],
    ["5,000 characters", `filename ${"QUFB".repeat(1250)}`],
    ["filename decodes to CR/LF and a header", `filename ${Buffer.from("a.csv\r\nX-Injected: 1").toString("base64")}`],
    ["filename decodes to NUL", `filename ${Buffer.from("a\0.csv").toString("base64")}`],
  ];
  for (const [name, value] of badMetadata) {
    kase("tus", `Upload-Metadata: ${name}`, "400 invalid_metadata, no upload created", async (o) => {
      const files = await fileCount();
      const res = await tusCreate(admin(), 10, "m.csv", { "upload-metadata": value });
      o.got = describeAnswer(res.status, res.body);
      expectJsonError(stack, res, 400, "invalid_metadata");
      expect(await fileCount()).toBe(files);
    });
  }

  for (const [name, raw] of [
    ["bare CR inside the Upload-Metadata value", "filename YS5jc3Y=\rX-Evil: 1"],
    ["bare LF inside the Upload-Metadata value", "filename YS5jc3Y=\nX-Evil: 1"],
    ["obsolete line folding (CRLF + space) in Upload-Metadata", "filename YS5jc3Y=,\r\n kind c3VibWlzc2lvbg=="],
  ]) {
    kase("tus", `raw socket: ${name}`, "400 (Node's parser or ours), no upload created", async (o) => {
      const files = await fileCount();
      const res = await rawRequest(
        stack.webUrl,
        head("POST /api/uploads/tus/ HTTP/1.1", [
          ["Host", webHost()],
          ["Cookie", admin()],
          ["Tus-Resumable", TUS_VERSION],
          ["Upload-Length", "10"],
          ["Upload-Metadata", raw as string],
          ["Content-Length", "0"],
        ]),
      );
      o.got = describeRaw(res);
      expect(res.status).toBe(400);
      expectNoLeak(stack, res.raw);
      expect(await fileCount()).toBe(files);
    });
  }

  kase("tus", "PATCH at the wrong offset", "409 offset_mismatch, offset unchanged", async (o) => {
    const res = await tusPatch(url, admin(), 500, data.subarray(500));
    o.got = describeAnswer(res.status, res.body);
    expectJsonError(stack, res, 409, "offset_mismatch");
    expect((await tusOffset(url)).offset).toBe("0");
  });

  kase("tus", "PATCH at a negative offset", "400 (not an offset), offset unchanged", async (o) => {
    const res = await tusPatch(url, admin(), -1, data.subarray(0, 10));
    o.got = describeAnswer(res.status, res.body);
    expectJsonError(stack, res, 400, "bad_request");
    expect((await tusOffset(url)).offset).toBe("0");
  });

  kase(
    "tus",
    "PATCH whose Content-Length goes past Upload-Length",
    "413, offset unchanged, nothing staged",
    async (o) => {
      const res = await refusedAndNothingStored(() => tusPatch(url, admin(), 0, Buffer.concat([data, data])));
      o.got = describeAnswer(res.status, res.body);
      expectJsonError(stack, res, 413, "too_large");
      expect((await tusOffset(url)).offset).toBe("0");
    },
  );

  kase(
    "tus",
    "PATCH streamed without a length that goes past Upload-Length",
    "413, offset unchanged, nothing staged",
    async (o) => {
      const body = Buffer.concat([data, randomBytes(64 * KiB)]);
      const res = await refusedAndNothingStored(() =>
        call(url, {
          method: "PATCH",
          headers: {
            ...TUS,
            cookie: admin(),
            "upload-offset": "0",
            "content-type": "application/offset+octet-stream",
          },
          body: new ReadableStream({
            start(controller) {
              for (let at = 0; at < body.length; at += 16 * KiB)
                controller.enqueue(new Uint8Array(body.subarray(at, at + 16 * KiB)));
              controller.close();
            },
          }),
          duplex: "half",
        } as RequestInit),
      );
      o.got = describeAnswer(res.status, res.body);
      expectJsonError(stack, res, 413, "too_large");
      expect((await tusOffset(url)).offset).toBe("0");
    },
  );

  for (const contentType of ["application/octet-stream", ""]) {
    kase(
      "tus",
      `PATCH with Content-Type ${JSON.stringify(contentType)}`,
      "415, offset unchanged, nothing staged",
      async (o) => {
        const res = await refusedAndNothingStored(() =>
          tusPatch(url, admin(), 0, data.subarray(0, 100), { "content-type": contentType }),
        );
        o.got = describeAnswer(res.status, res.body);
        expectJsonError(stack, res, 415, "unsupported_type");
        expect((await tusOffset(url)).offset).toBe("0");
      },
    );
  }

  kase(
    "tus",
    "PATCH with a wrong sha256 Upload-Checksum",
    "400 (no checksum extension), offset unchanged, nothing staged",
    async (o) => {
      const res = await refusedAndNothingStored(() =>
        tusPatch(url, admin(), 0, data.subarray(0, 100), {
          "upload-checksum": `sha256 ${createHash("sha256").update("other").digest("base64")}`,
        }),
      );
      o.got = describeAnswer(res.status, res.body);
      expectJsonError(stack, res, 400, "bad_request");
      expect((await tusOffset(url)).offset).toBe("0");
    },
  );

  kase("tus", "PATCH with an md5 Upload-Checksum", "400, offset unchanged", async (o) => {
    const res = await tusPatch(url, admin(), 0, data.subarray(0, 100), {
      "upload-checksum": "md5 AAAAAAAAAAAAAAAAAAAAAA==",
    });
    o.got = describeAnswer(res.status, res.body);
    expectJsonError(stack, res, 400, "bad_request");
    expect((await tusOffset(url)).offset).toBe("0");
  });

  kase("tus", "POST to an upload's URL, PATCH on a deeper path", "400 and 404", async (o) => {
    const a = await call(url, { method: "POST", headers: { ...TUS, cookie: admin(), "upload-length": "1" } });
    const b = await tusPatch(`${url}/extra`, admin(), 0, data.subarray(0, 1));
    o.got = `${describeAnswer(a.status, a.body)}; ${describeAnswer(b.status, b.body)}`;
    expectJsonError(stack, a, 400, "bad_request");
    expectJsonError(stack, b, 404, "not_found");
  });

  kase(
    "tus",
    "after all that, the honest client still completes the upload",
    "204 with the right sha256",
    async (o) => {
      const first = await tusPatch(url, admin(), 0, data.subarray(0, 400));
      const last = await tusPatch(url, admin(), 400, data.subarray(400));
      const sha256 = createHash("sha256").update(data).digest("hex");
      o.got = `${first.status}, ${last.status}, sha256 ${last.headers.get("x-depot-sha256") === sha256 ? "matches" : "differs"}`;
      expect(first.status).toBe(204);
      expect(last.status).toBe(204);
      expect(last.headers.get("x-depot-sha256")).toBe(sha256);
      completed.set(last.headers.get("x-depot-file-id") ?? "", sha256);
    },
  );

  kase("tus", "PATCH and HEAD on a terminated upload", "404 (tus: 404 or 410), nothing stored", async (o) => {
    const { url: doomed } = await tusUpload(admin(), 100, "doomed.csv");
    expect((await call(doomed, { method: "DELETE", headers: { ...TUS, cookie: admin() } })).status).toBe(204);
    const res = await refusedAndNothingStored(() => tusPatch(doomed, admin(), 0, randomBytes(100)));
    const h = await tusOffset(doomed);
    o.got = `${describeAnswer(res.status, res.body)}; HEAD ${h.status}`;
    expectJsonError(stack, res, 404, "not_found");
    expect(h.status).toBe(404);
  });
});

describe("file names", () => {
  const admin = () => people.admin.cookie;
  const accepted: [string, string, string | ((name: string) => boolean)][] = [
    ["traversal ../../etc/passwd.csv", "../../etc/passwd.csv", "passwd.csv"],
    ["Windows traversal ..\\..\\windows\\evil.csv", "..\\..\\windows\\evil.csv", "evil.csv"],
    ["UTF-8 name (accents, CJK)", "résumé données 数据.csv", "résumé données 数据.csv"],
    ["bidi override and isolate characters", "data\u202e\u2066vsc.csv", "datavsc.csv"],
    ["zero-width characters", "da\u200bta\ufeff.csv", "data.csv"],
    ["1,000 characters", `${"a".repeat(996)}.csv`, (n) => n.length === 200 && n.endsWith(".csv")],
    ["reserved device name CON.csv", "CON.csv", "_CON.csv"],
    ["reserved device name lpt1.tsv", "lpt1.tsv", "_lpt1.tsv"],
    ["markup in the name", "<img src=x onerror=alert(1)>.csv", "_img src=x onerror=alert(1)_.csv"],
    ["leading dots and trailing dots/spaces", "...hidden.csv. . ", "hidden.csv"],
  ];
  for (const [name, filename, expected] of accepted) {
    kase("file names", name, "201 with a sanitised display name; storage key built from ids only", async (o) => {
      const before = await snapshot(stack);
      const res = await upload(admin(), fileParts(stack.cohortId, filename));
      o.got = describeAnswer(res.status, res.body);
      expect(res.status, res.body).toBe(201);
      const body = JSON.parse(res.body) as { id: string; name: string; sha256: string };
      completed.set(body.id, body.sha256);
      const row = await fileRow(body.id);
      o.got = `201, stored as ${JSON.stringify(row?.original_name)}`;
      if (typeof expected === "string") expect(row?.original_name).toBe(expected);
      else expect(expected(row?.original_name ?? "")).toBe(true);
      expect(body.name).toBe(row?.original_name);
      expect(row?.storage_key).toMatch(/^[0-9a-f-]{36}\/\d{4}\/\d{2}\/[0-9a-f-]{36}$/);
      expect(row?.storage_key.endsWith(body.id)).toBe(true);
      // biome-ignore lint/suspicious/noControlCharactersInRegex: checking that none are left
      expect(row?.original_name).not.toMatch(/[\u0000-\u001f\u007f\u200b-\u200f\u202a-\u202e\u2066-\u2069/\\]/);
      const now = await snapshot(stack);
      expect([...now.objects].filter((p) => !before.objects.has(p))).toEqual([row?.storage_key]);
      expect([...now.outside].filter((p) => !before.outside.has(p))).toEqual([]);
    });
  }

  for (const [name, filename] of [
    ["NUL inside the name", "a\u0000b.csv"],
    ["control characters (ESC, BEL) inside the name", "\u001b[31mred\u0007data.csv"],
  ] as const) {
    kase(
      "file names",
      name,
      "400 malformed multipart (the parser refuses control bytes in part headers), nothing stored",
      async (o) => {
        const res = await refusedAndNothingStored(() => upload(admin(), fileParts(stack.cohortId, filename)));
        o.got = describeAnswer(res.status, res.body);
        expectJsonError(stack, res, 400, "bad_request");
      },
    );
  }

  kase(
    "file names",
    "RFC 5987 filename* with NUL, bidi and control characters (percent-encoded)",
    "201, all of them removed from the display name",
    async (o) => {
      const res = await upload(admin(), [
        { name: "cohortId", value: stack.cohortId },
        { name: "kind", value: "submission" },
        {
          name: "file",
          filename: "",
          content: MAGIC.csv,
          rawDisposition: `form-data; name="file"; filename*=UTF-8''${encodeURIComponent("a\u0000b\u001b\u202evsc\u2066.csv")}`,
        },
      ]);
      expect(res.status, res.body).toBe(201);
      const body = JSON.parse(res.body) as { id: string; sha256: string };
      completed.set(body.id, body.sha256);
      const row = await fileRow(body.id);
      o.got = `201, stored as ${JSON.stringify(row?.original_name)}`;
      expect(row?.original_name).toBe("abvsc.csv");
    },
  );

  kase("file names", "RFC 5987 filename* with encoded ../", "201, display name without folders", async (o) => {
    const res = await upload(admin(), [
      { name: "cohortId", value: stack.cohortId },
      { name: "kind", value: "submission" },
      {
        name: "file",
        filename: "",
        content: MAGIC.csv,
        rawDisposition: `form-data; name="file"; filename*=UTF-8''..%2F..%2Fetc%2Fshadow.csv`,
      },
    ]);
    expect(res.status, res.body).toBe(201);
    const body = JSON.parse(res.body) as { id: string; sha256: string };
    completed.set(body.id, body.sha256);
    const row = await fileRow(body.id);
    o.got = `201, stored as ${JSON.stringify(row?.original_name)}`;
    expect(row?.original_name).toBe("shadow.csv");
  });

  kase(
    "file names",
    "quotes and a semicolon in the name, then download",
    "201; one well-formed Content-Disposition",
    async (o) => {
      const up = await uploadOk(admin(), stack.cohortId, 'a\\";filename=evil.exe;b.csv', MAGIC.csv);
      const res = await call(web(`/api/files/${up.id}/download`), { headers: { cookie: admin() } });
      const disposition = res.headers.get("content-disposition") ?? "";
      o.got = `${res.status}; ${disposition}`;
      expect(res.status).toBe(200);
      expect(disposition).toMatch(/^attachment; filename="[^"]*"; filename\*=UTF-8''[^;"\s]+$/);
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
      expect(res.headers.get("content-type")).toBe("application/octet-stream");
    },
  );

  const refused: [string, string][] = [
    ["extension .exe", "setup.exe"],
    ["double extension data.csv.exe", "data.csv.exe"],
    ["bidi trick: invoice\u202Evsc.exe shows as invoiceexe.csv", "invoice\u202evsc.exe"],
    ["no extension", "README"],
    ["only an extension: .csv", ".csv"],
  ];
  for (const [name, filename] of refused) {
    kase("file names", name, "415 naming the allowed extensions, nothing stored", async (o) => {
      const res = await refusedAndNothingStored(() => upload(admin(), fileParts(stack.cohortId, filename)));
      o.got = describeAnswer(res.status, res.body);
      const error = expectJsonError(stack, res, 415, "unsupported_type");
      expect(error.message).toContain(".csv, .tsv, .txt, .sas7bdat, .dta, .sav, .parquet, .zip");
    });
  }

  kase("file names", "tus: filename ../../etc/passwd.csv", "201, display name passwd.csv", async (o) => {
    const res = await tusCreate(admin(), 10, "../../etc/passwd.csv");
    const fileId = res.headers.get("x-depot-file-id") ?? "";
    const row = await fileRow(fileId);
    o.got = `${res.status}, stored as ${JSON.stringify(row?.original_name)}`;
    expect(res.status).toBe(201);
    expect(row?.original_name).toBe("passwd.csv");
    expect(row?.storage_key.endsWith(fileId)).toBe(true);
    await call(web(res.headers.get("location") ?? ""), { method: "DELETE", headers: { ...TUS, cookie: admin() } });
  });

  kase("file names", "tus: filename evil.exe", "415, no upload created", async (o) => {
    const files = await fileCount();
    const res = await tusCreate(admin(), 10, "evil.exe");
    o.got = describeAnswer(res.status, res.body);
    expectJsonError(stack, res, 415, "unsupported_type");
    expect(await fileCount()).toBe(files);
  });
});

describe("disguised content", () => {
  const admin = () => people.admin.cookie;
  const mismatchRows = (fileId: string) =>
    stack.sql<{ metadata: { detected?: string; extension?: string } }[]>`
      select metadata from phi_file_tracking where file_id = ${fileId} and action = 'content_mismatch'`;

  kase(
    "content",
    "a .csv that is really a ZIP archive",
    "201 accepted; a content_mismatch audit row names zip",
    async (o) => {
      const up = await uploadOk(admin(), stack.cohortId, "looks-like.csv", MAGIC.zip);
      const rows = await mismatchRows(up.id);
      o.got = `201; content_mismatch rows: ${rows.map((r) => `${r.metadata.extension}→${r.metadata.detected}`).join(", ") || "none"}`;
      expect(rows).toHaveLength(1);
      expect(rows[0]?.metadata).toMatchObject({ detected: "zip", extension: "csv" });
    },
  );

  kase("content", "a .csv that is really an ELF executable", "415, nothing stored", async (o) => {
    const res = await refusedAndNothingStored(() => upload(admin(), fileParts(stack.cohortId, "data.csv", MAGIC.elf)));
    o.got = describeAnswer(res.status, res.body);
    expectJsonError(stack, res, 415, "unsupported_type");
  });

  kase("content", "a .txt that is really a Windows PE executable", "415, nothing stored", async (o) => {
    const res = await refusedAndNothingStored(() => upload(admin(), fileParts(stack.cohortId, "notes.txt", MAGIC.pe)));
    o.got = describeAnswer(res.status, res.body);
    expectJsonError(stack, res, 415, "unsupported_type");
  });

  kase(
    "content",
    "tus: first chunk of a .csv is an ELF executable",
    "415, offset unchanged, nothing staged",
    async (o) => {
      const { url } = await tusUpload(admin(), MAGIC.elf.length, "tus-elf.csv");
      const res = await refusedAndNothingStored(() => tusPatch(url, admin(), 0, MAGIC.elf));
      o.got = describeAnswer(res.status, res.body);
      expectJsonError(stack, res, 415, "unsupported_type");
      expect((await tusOffset(url)).offset).toBe("0");
      await call(url, { method: "DELETE", headers: { ...TUS, cookie: admin() } });
    },
  );

  kase("content", "tus: a .csv that is really a ZIP", "204 completed; a content_mismatch audit row", async (o) => {
    const { url, fileId } = await tusUpload(admin(), MAGIC.zip.length, "tus-zip.csv");
    const res = await tusPatch(url, admin(), 0, MAGIC.zip);
    const rows = await mismatchRows(fileId);
    o.got = `${res.status}; content_mismatch rows: ${rows.length}`;
    expect(res.status).toBe(204);
    completed.set(fileId, createHash("sha256").update(MAGIC.zip).digest("hex"));
    expect(rows).toHaveLength(1);
    expect(rows[0]?.metadata).toMatchObject({ detected: "zip", extension: "csv" });
  });

  kase(
    "content",
    'a .csv whose text starts with "MZ" (Mozambique)',
    "201, no content_mismatch row (not mistaken for a program)",
    async (o) => {
      const up = await uploadOk(admin(), stack.cohortId, "sites.csv", MAGIC.mozambique);
      const rows = await mismatchRows(up.id);
      o.got = `201; content_mismatch rows: ${rows.length}`;
      expect(rows).toHaveLength(0);
    },
  );

  kase(
    "content",
    "honest files: a .zip that is a ZIP, a .csv that is text",
    "201, no content_mismatch row",
    async (o) => {
      const zip = await uploadOk(admin(), stack.cohortId, "archive.zip", MAGIC.zip);
      const csv = await uploadOk(admin(), stack.cohortId, "visits.csv", MAGIC.csv);
      const rows = [...(await mismatchRows(zip.id)), ...(await mismatchRows(csv.id))];
      o.got = `201, 201; content_mismatch rows: ${rows.length}`;
      expect(rows).toHaveLength(0);
    },
  );
});

describe("downloads", () => {
  kase("downloads", "Range beyond the end of the file", "416 range_not_satisfiable", async (o) => {
    const res = await call(web(`/api/files/${fileA}/download`), {
      headers: { cookie: people.admin.cookie, range: "bytes=999999-" },
    });
    o.got = describeAnswer(res.status, res.body);
    expectJsonError(stack, res, 416, "range_not_satisfiable");
  });

  kase("downloads", "500 ranges in one Range header", "200 with the whole file (multi-range not served)", async (o) => {
    const ranges = Array.from({ length: 500 }, (_, i) => `${i}-${i}`).join(",");
    const res = await call(web(`/api/files/${fileA}/download`), {
      headers: { cookie: people.admin.cookie, range: `bytes=${ranges}` },
    });
    o.got = `${res.status}, ${res.body.length} bytes`;
    expect(res.status).toBe(200);
    expect(res.body).toBe(MAGIC.csv.toString());
  });

  kase("downloads", "a deleted file", "404, object gone", async (o) => {
    const up = await uploadOk(people.admin.cookie, stack.cohortId, "to-delete.csv", MAGIC.csv);
    completed.delete(up.id);
    expect(
      (await call(web(`/api/files/${up.id}`), { method: "DELETE", headers: { cookie: people.admin.cookie } })).status,
    ).toBe(200);
    const res = await call(web(`/api/files/${up.id}/download`), { headers: { cookie: people.admin.cookie } });
    o.got = describeAnswer(res.status, res.body);
    expectJsonError(stack, res, 404, "not_found");
  });
});

// ---------------------------------------------------------------------------------------------------------
// Issue 13: the second probe's findings, each as the attack that found it.

const signInRequest = (who: { email: string; password: string }, headers: Record<string, string> = {}) =>
  call(web("/api/session"), {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ email: who.email, password: who.password }),
  });

const deniedRows = async (since: number) =>
  stack.sql<{ file_id: string | null; actor_user_id: string | null; metadata: { route?: string } }[]>`
    select file_id::text, actor_user_id::text, metadata from phi_file_tracking
    where action = 'access_denied' and id > ${since} order by id`;
const lastAuditId = async () =>
  Number((await stack.sql<{ id: string }[]>`select coalesce(max(id), 0)::text as id from phi_file_tracking`)[0]?.id);

describe("sessions that end", () => {
  kase(
    "sessions",
    "cookie issued before an administrator reset the password",
    "401 on the next request; GET /api/session 401 and clears the cookie instead of renewing it",
    async (o) => {
      const cookie = people.reset.cookie;
      expect((await call(web("/api/files"), { headers: { cookie } })).status).toBe(200);
      const reset = await call(web(`/api/admin/users/${people.reset.id}`), {
        method: "PATCH",
        headers: { cookie: people.admin.cookie, "content-type": "application/json" },
        body: JSON.stringify({ password: "a-new-password-13" }),
      });
      expect(reset.status).toBe(200);
      const list = await call(web("/api/files"), { headers: { cookie } });
      const renew = await call(web("/api/session"), { headers: { cookie } });
      const legacy = await call(web("/api/auth/session"), { headers: { cookie } });
      o.got = `list ${list.status}; renew ${renew.status} set-cookie ${renew.headers.get("set-cookie")?.split(";")[0]}; /api/auth/session ${legacy.status}`;
      expectJsonError(stack, list, 401, "unauthorized");
      expectJsonError(stack, renew, 401, "unauthorized");
      expect(renew.headers.get("set-cookie")).toMatch(new RegExp(`^${SESSION_COOKIE}=;.*Max-Age=0`));
      expect(legacy.status).toBe(404);
      expect(legacy.headers.get("set-cookie")).toBeNull();
    },
  );

  kase(
    "sessions",
    "a copied cookie used after its owner signed out",
    "401: sign-out ends the token on the server",
    async (o) => {
      const cookie = people.signedOut.cookie;
      expect((await call(web("/api/files"), { headers: { cookie } })).status).toBe(200);
      const out = await call(web("/api/session"), { method: "DELETE", headers: { cookie } });
      expect(out.status).toBe(204);
      const replay = await call(web("/api/files"), { headers: { cookie } });
      o.got = `sign-out ${out.status}; replayed cookie ${describeAnswer(replay.status, replay.body)}`;
      expectJsonError(stack, replay, 401, "unauthorized");
    },
  );

  kase(
    "sessions",
    "token past the absolute lifetime, still inside its idle window (right secret, right version)",
    "401, and GET /api/session does not renew it",
    async (o) => {
      const [row] = await stack.sql<
        { v: number }[]
      >`select session_version as v from users where id = ${people.admin.id}`;
      const token = await nextAuthJwt().encode({
        token: { sub: people.admin.id, ver: row?.v, authTime: Math.floor(Date.now() / 1000) - 13 * 3600 },
        secret: stack.authSecret,
        maxAge: 3600,
      });
      const cookie = `${SESSION_COOKIE}=${token}`;
      const list = await call(web("/api/files"), { headers: { cookie } });
      const renew = await call(web("/api/session"), { headers: { cookie } });
      o.got = `list ${list.status}; renew ${renew.status}`;
      expectJsonError(stack, list, 401, "unauthorized");
      expectJsonError(stack, renew, 401, "unauthorized");
      expect(renew.headers.get("set-cookie")).toMatch(/Max-Age=0/);
    },
  );

  kase(
    "sessions",
    "a live session is renewed by GET /api/session",
    "200 with a fresh cookie (control case)",
    async (o) => {
      const res = await call(web("/api/session"), { headers: { cookie: people.managerA.cookie } });
      o.got = `${res.status}, cookie ${res.headers.get("set-cookie") ? "renewed" : "not renewed"}`;
      expect(res.status).toBe(200);
      expect(res.headers.get("set-cookie")).toMatch(new RegExp(`^${SESSION_COOKIE}=[^;]+;.*Max-Age=\\d+`));
    },
  );
});

describe("one sign-in path", () => {
  kase(
    "sign-in",
    "forged X-Forwarded-For at sign-in (no trusted proxy configured)",
    "the socket's address is recorded, never the forged one; next-auth's callback is not mounted (404)",
    async (o) => {
      const forged = "198.51.100.77";
      const wrong = await signInRequest(
        { email: people.viewerA.email, password: "nope" },
        { "x-forwarded-for": forged },
      );
      const callback = await call(web("/api/auth/callback/credentials"), {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", "x-forwarded-for": forged },
        body: `email=${encodeURIComponent(people.viewerA.email)}&password=nope`,
      });
      const attempts = await stack.sql`select 1 from login_attempts where ip = ${forged}`;
      const audited = await stack.sql`select 1 from phi_file_tracking where actor_ip = ${forged}`;
      o.got = `sign-in ${wrong.status}; /api/auth/callback ${callback.status}; rows with the forged address: ${attempts.length + audited.length}`;
      expectJsonError(stack, wrong, 401, "unauthorized");
      expect(callback.status).toBe(404);
      expect(attempts.length + audited.length).toBe(0);
    },
  );

  kase(
    "sign-in",
    "20 concurrent wrong passwords for one account",
    "exactly 5 checked (401), 15 refused (429): the limit is atomic",
    async (o) => {
      const answers = await Promise.all(
        Array.from({ length: 20 }, (_, i) => signInRequest({ email: people.burst.email, password: `burst-${i}` })),
      );
      const statuses = answers.map((a) => a.status);
      o.got = `${statuses.filter((x) => x === 401).length} × 401, ${statuses.filter((x) => x === 429).length} × 429`;
      expect(statuses.filter((x) => x === 401)).toHaveLength(5);
      expect(statuses.filter((x) => x === 429)).toHaveLength(15);
    },
  );
});

describe("bounded bodies and methods", () => {
  kase("bodies", "POST /api/session declaring a 256 MiB body", "413 from Content-Length, before reading", async (o) => {
    const res = await rawRequest(stack.webUrl, [
      head("POST /api/session HTTP/1.1", [
        ["Host", webHost()],
        ["Content-Type", "application/json"],
        ["Content-Length", String(256 * MiB)],
      ]),
      '{"email":"',
    ]);
    o.got = describeRaw(res);
    expectJsonError(stack, res, 413, "too_large");
  });

  kase(
    "bodies",
    "POST /api/session with an endless chunked body (no Content-Length)",
    "413 while reading, after at most a few MiB were sent",
    async (o) => {
      const result = await new Promise<{ status: number; sent: number; body: string }>((resolve, reject) => {
        let sent = 0;
        let answered = false;
        const req = httpRequest(web("/api/session"), {
          method: "POST",
          headers: { "content-type": "application/json", "transfer-encoding": "chunked" },
        });
        req.on("response", (res) => {
          answered = true;
          let body = "";
          res.on("data", (c: Buffer) => {
            body += c.toString();
          });
          res.on("end", () => resolve({ status: res.statusCode ?? 0, sent, body }));
        });
        req.on("error", (error) => (answered ? undefined : reject(error)));
        const chunk = Buffer.alloc(64 * KiB, 0x61);
        const pump = () => {
          while (!answered && sent < 256 * MiB) {
            sent += chunk.length;
            if (!req.write(chunk)) return req.once("drain", pump);
          }
          req.end();
        };
        req.write('{"email":"');
        pump();
      });
      o.got = `${describeAnswer(result.status, result.body)} after ${(result.sent / MiB).toFixed(1)} MiB sent`;
      expectJsonError(stack, { status: result.status, body: result.body }, 413, "too_large");
      expect(result.sent).toBeLessThan(32 * MiB);
    },
  );

  for (const [method, path] of [
    ["TRACE", "/api/files"],
    ["PROPFIND", "/api/uploads/tus/"],
    ["DELETE", "/api/cohorts"],
    ["TRACE", "/dashboard"],
  ] as const) {
    kase("methods", `${method} ${path}`, "405 with Allow, JSON error shape", async (o) => {
      const res = await rawRequest(
        stack.webUrl,
        head(`${method} ${path} HTTP/1.1`, [
          ["Host", webHost()],
          ["Cookie", people.admin.cookie],
        ]),
      );
      o.got = `${describeRaw(res)}; Allow: ${res.headers.allow}`;
      expectJsonError(stack, res, 405, "method_not_allowed");
      expect(res.headers.allow).toMatch(/GET|POST/);
    });
  }
});

describe("filters PostgreSQL cannot hold", () => {
  const bad = ["0000-01-01", "-000001-01-01", "+275760-09-13"];
  for (const value of bad) {
    kase(
      "filters",
      `from=${value} on /api/files, /api/audit and both pages`,
      "400 naming the field; pages answer 200",
      async (o) => {
        const q = `from=${encodeURIComponent(value)}`;
        const cookie = people.admin.cookie;
        const files = await call(web(`/api/files?${q}`), { headers: { cookie } });
        const audit = await call(web(`/api/audit?${q}`), { headers: { cookie } });
        const filesPage = await call(web(`/files?${q}`), { headers: { cookie } });
        const auditPage = await call(web(`/audit?${q}`), { headers: { cookie } });
        o.got = `api ${files.status}/${audit.status}; pages ${filesPage.status}/${auditPage.status}`;
        expect(expectJsonError(stack, files, 400, "bad_request").message).toContain("from");
        expect(expectJsonError(stack, audit, 400, "bad_request").message).toContain("from");
        expect(filesPage.status).toBe(200);
        expect(auditPage.status).toBe(200);
      },
    );
  }

  kase("filters", "audit export with to=0000-01-01", "400 and no audit_exported row", async (o) => {
    const before = await stack.sql`select 1 from phi_file_tracking where action = 'audit_exported'`;
    const res = await call(web("/api/audit/export?to=0000-01-01"), { headers: { cookie: people.admin.cookie } });
    const after = await stack.sql`select 1 from phi_file_tracking where action = 'audit_exported'`;
    o.got = `${describeAnswer(res.status, res.body)}; export rows ${before.length} → ${after.length}`;
    expectJsonError(stack, res, 400, "bad_request");
    expect(after.length).toBe(before.length);
  });
});

describe("a slow-starting upload", () => {
  kase(
    "slow client",
    `multipart upload whose file bytes arrive one every 2 s (idle limit ${IDLE_SECONDS} s), 6 bytes`,
    "201: the content check's hold-back does not leave storage's connection idle",
    async (o) => {
      const content = "a,b\n1\n";
      const form = multipart(fileParts(stack.cohortId, "slow.csv", content));
      const split = form.body.indexOf(Buffer.from(content));
      const before = form.body.subarray(0, split);
      const after = form.body.subarray(split + content.length);
      const result = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpRequest(web("/api/uploads"), {
          method: "POST",
          headers: {
            cookie: people.admin.cookie,
            "content-type": form.contentType,
            "content-length": String(form.body.length),
          },
        });
        req.on("response", (res) => {
          let body = "";
          res.on("data", (c: Buffer) => {
            body += c.toString();
          });
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on("error", reject);
        void (async () => {
          req.write(before);
          for (const byte of content) {
            await sleep(2_000);
            req.write(byte);
          }
          req.end(after);
        })();
      });
      o.got = describeAnswer(result.status, result.body);
      expect(result.status, result.body).toBe(201);
      const body = JSON.parse(result.body) as { id: string; sha256: string };
      expect(body.sha256).toBe(createHash("sha256").update(content).digest("hex"));
      completed.set(body.id, body.sha256);
    },
  );
});

describe("idempotent deletes", () => {
  kase(
    "deletes",
    "4 concurrent DELETEs of one file",
    "one 200, three 404; one file_deleted row per tier",
    async (o) => {
      const { id } = await uploadOk(people.admin.cookie, stack.cohortId, "delete-race.csv", MAGIC.csv);
      completed.delete(id);
      const answers = await Promise.all(
        Array.from({ length: 4 }, () =>
          call(web(`/api/files/${id}`), { method: "DELETE", headers: { cookie: people.admin.cookie } }),
        ),
      );
      const rows = await stack.sql<{ server_role: string; n: number }[]>`
        select server_role, count(*)::int as n from phi_file_tracking
        where file_id = ${id} and action = 'file_deleted' group by server_role order by server_role::text`;
      const statuses = answers.map((a) => a.status).sort();
      o.got = `${statuses.join(", ")}; rows ${rows.map((r) => `${r.server_role} ${r.n}`).join(", ")}`;
      expect(statuses).toEqual([200, 404, 404, 404]);
      for (const a of answers.filter((x) => x.status === 404)) expectJsonError(stack, a, 404, "not_found");
      expect(rows).toEqual([
        { server_role: "services", n: 1 },
        { server_role: "web", n: 1 },
      ]);
    },
  );
});

describe("canonical ids", () => {
  kase(
    "ids",
    "the last administrator deactivates and demotes themself by their upper-case id",
    "403 both, still an active administrator",
    async (o) => {
      const upper = people.admin.id.toUpperCase();
      const patch = (body: unknown) =>
        call(web(`/api/admin/users/${upper}`), {
          method: "PATCH",
          headers: { cookie: people.admin.cookie, "content-type": "application/json" },
          body: JSON.stringify(body),
        });
      const off = await patch({ active: false });
      const demote = await patch({ role: "member" });
      const [row] = await stack.sql<{ is_active: boolean; role: string }[]>`
        select is_active, role::text from users where id = ${people.admin.id}`;
      o.got = `${off.status}, ${demote.status}; active ${row?.is_active}, ${row?.role}`;
      expectJsonError(stack, off, 403, "forbidden");
      expectJsonError(stack, demote, 403, "forbidden");
      expect(row).toEqual({ is_active: true, role: "administrator" });
    },
  );

  kase(
    "ids",
    "upload and tus creation with the cohort id in upper case",
    "201; stored under the canonical (lower-case) cohort prefix",
    async (o) => {
      const upper = stack.cohortId.toUpperCase();
      const up = await upload(people.admin.cookie, fileParts(upper, "upper.csv"));
      expect(up.status, up.body).toBe(201);
      const { id, sha256 } = JSON.parse(up.body) as { id: string; sha256: string };
      completed.set(id, sha256);
      const tus = await call(web("/api/uploads/tus/"), {
        method: "POST",
        headers: {
          ...TUS,
          cookie: people.admin.cookie,
          "upload-length": "10",
          "upload-metadata": metadata({ cohortId: upper, kind: "submission", filename: "upper-tus.csv" }),
        },
      });
      expect(tus.status, tus.body).toBe(201);
      const rows = await stack.sql<{ cohort_id: string; storage_key: string }[]>`
        select cohort_id::text, storage_key from files where id in (${id}, ${tus.headers.get("x-depot-file-id") ?? id})`;
      o.got = rows.map((r) => r.storage_key.split("/")[0]).join(", ");
      expect(rows).toHaveLength(2);
      for (const r of rows) {
        expect(r.cohort_id).toBe(stack.cohortId);
        expect(r.storage_key.startsWith(`${stack.cohortId}/`)).toBe(true);
      }
    },
  );

  kase("ids", "GET /api/files/<upper-case id>", "200, the same file", async (o) => {
    const res = await call(web(`/api/files/${fileA.toUpperCase()}`), { headers: { cookie: people.admin.cookie } });
    o.got = describeAnswer(res.status, res.body);
    expect(res.status).toBe(200);
    expect((JSON.parse(res.body) as { id: string }).id).toBe(fileA);
  });
});

describe("every denial audited", () => {
  kase(
    "denials",
    "manager's cleanup preview; manager of A reads a cohort B file's details; manager opens /admin",
    "403 each (the page says so), each with an access_denied row (the file's row names the file)",
    async (o) => {
      const since = await lastAuditId();
      const preview = await call(web("/api/maintenance/cleanup-preview"), {
        method: "POST",
        headers: { cookie: people.managerA.cookie },
      });
      const details = await call(web(`/api/files/${fileB}`), { headers: { cookie: people.managerA.cookie } });
      const page = await call(web("/admin"), { headers: { cookie: people.managerA.cookie } });
      expect(page.body).toContain("administrators only");
      const rows = await deniedRows(since);
      o.got = `${preview.status}, ${details.status}; rows: ${rows.map((r) => r.metadata.route).join(", ")}`;
      expectJsonError(stack, preview, 403, "forbidden");
      expectJsonError(stack, details, 403, "forbidden");
      expect(rows.map((r) => [r.metadata.route, r.actor_user_id, r.file_id])).toEqual([
        ["cleanup_preview", people.managerA.id, null],
        ["file_details", people.managerA.id, fileB],
        ["admin_page", people.managerA.id, null],
      ]);
    },
  );
});

describe("sign-in", () => {
  kase("sign-in", "body that is not JSON, and a 2,000-character password", "400 both", async (o) => {
    const a = await call(web("/api/session"), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "email=a&password=b",
    });
    const b = await call(web("/api/session"), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: ADMIN.email, password: "x".repeat(2000) }),
    });
    o.got = `${describeAnswer(a.status, a.body)}; ${b.status}`;
    expectJsonError(stack, a, 400, "bad_request");
    expectJsonError(stack, b, 400, "bad_request");
  });

  kase("sign-in", "SQL in the email", "401 like any wrong password", async (o) => {
    const res = await call(web("/api/session"), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: "' OR '1'='1' --", password: "' OR '1'='1' --" }),
    });
    o.got = describeAnswer(res.status, res.body);
    expectJsonError(stack, res, 401, "unauthorized");
  });

  // Last: five failures lock this account for a minute.
  kase(
    "sign-in",
    "password guessing",
    "429 with Retry-After once five sign-ins to this account failed within a minute",
    async (o) => {
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++) {
        const res = await call(web("/api/session"), {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ email: people.managerA.email, password: `guess-${i}` }),
        });
        statuses.push(res.status);
        if (i === 5) {
          expectJsonError(stack, res, 429, "rate_limited");
          expect(res.headers.get("retry-after")).toBe("60");
        }
      }
      o.got = statuses.join(", ");
    },
  );
});

describe("afterwards", () => {
  kase(
    "invariants",
    "nothing lost, nothing extra, audit chain intact",
    "every reported upload stored with its sha256 and both tiers' audit rows; no partials; chain verifies",
    async (o) => {
      await expectNothingLost(stack, completed);
      const { db, close } = createDb(stack.databaseUrl, { max: 1 });
      const chain = await verifyAuditChain(db);
      await close();
      o.got = `${completed.size} uploads checked; chain ${chain.ok ? `ok (${chain.rows} rows)` : "BROKEN"}`;
      expect(chain.ok).toBe(true);
    },
  );
});
