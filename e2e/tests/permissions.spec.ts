import { randomBytes } from "node:crypto";
import { expect, request, test } from "@playwright/test";
import { apiAs, cohortId, database, sha256, signIn } from "../helpers";
import { ADMIN, COHORT_A, COHORT_B, PEOPLE } from "../people";
import { E2E_BASE_URL } from "../ports";

const metadata = (fields: Record<string, string>) =>
  Object.entries(fields)
    .map(([k, v]) => `${k} ${Buffer.from(v).toString("base64")}`)
    .join(",");

async function uploadAsManager(name: string) {
  const manager = await apiAs(PEOPLE.manager);
  const data = randomBytes(4096);
  const res = await manager.post("/api/uploads", {
    multipart: {
      cohortId: await cohortId(COHORT_A),
      kind: "submission",
      file: { name, mimeType: "text/csv", buffer: data },
    },
  });
  expect(res.status()).toBe(201);
  const body = (await res.json()) as { id: string; sha256: string };
  expect(body.sha256).toBe(sha256(data));
  return { manager, id: body.id };
}

test("a viewer can download but cannot upload or delete", async ({ page }) => {
  const { id } = await uploadAsManager("for-viewer.csv");
  const viewer = await apiAs(PEOPLE.viewer);
  const upload = await viewer.post("/api/uploads", {
    multipart: {
      cohortId: await cohortId(COHORT_A),
      kind: "submission",
      file: { name: "x.csv", mimeType: "text/csv", buffer: Buffer.from("a") },
    },
  });
  expect(upload.status()).toBe(403);
  expect((await upload.json()).error.code).toBe("forbidden");
  expect((await viewer.delete(`/api/files/${id}`)).status()).toBe(403);
  expect((await viewer.get(`/api/files/${id}/download`)).status()).toBe(200);

  await signIn(page, PEOPLE.viewer);
  await page.goto("/upload");
  await expect(page.getByTestId("no-upload-cohorts")).toBeVisible();
  await expect(page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Upload" })).toHaveCount(0);
  await page.goto("/files");
  const row = page.locator(`[data-file-id="${id}"]`);
  await expect(row.getByRole("link", { name: "Download" })).toBeVisible();
  await expect(row.getByRole("button", { name: "Delete" })).toHaveCount(0);
});

test("someone outside the cohort gets 403 on its file, and nobody else may touch a person's tus upload", async () => {
  const { manager, id } = await uploadAsManager("private.csv");
  const outsider = await apiAs(PEOPLE.outsider);
  const download = await outsider.get(`/api/files/${id}/download`);
  expect(download.status()).toBe(403);
  expect((await download.json()).error).toEqual({ code: "forbidden", message: "you may not download this file" });
  expect((await outsider.delete(`/api/files/${id}`)).status()).toBe(403);

  const created = await manager.post("/api/uploads/tus/", {
    headers: {
      "tus-resumable": "1.0.0",
      "upload-length": "1000",
      "upload-metadata": metadata({ cohortId: await cohortId(COHORT_A), kind: "precheck", filename: "part.csv" }),
    },
  });
  expect(created.status()).toBe(201);
  const location = created.headers().location!;
  expect(location).toMatch(/^\/api\/uploads\/tus\/[a-f0-9]{32}$/);

  const tusHeaders = { "tus-resumable": "1.0.0" };
  const patchHeaders = { ...tusHeaders, "upload-offset": "0", "content-type": "application/offset+octet-stream" };
  for (const other of [outsider, await apiAs(PEOPLE.otherManager)]) {
    expect((await other.head(location, { headers: tusHeaders })).status()).toBe(403);
    expect((await other.patch(location, { headers: patchHeaders, data: randomBytes(1000) })).status()).toBe(403);
    expect((await other.delete(location, { headers: tusHeaders })).status()).toBe(403);
  }
  const head = await manager.head(location, { headers: tusHeaders });
  expect(head.status()).toBe(200);
  expect(head.headers()["upload-offset"]).toBe("0");
  const anonymous = await request.newContext({ baseURL: E2E_BASE_URL });
  expect((await anonymous.head(location, { headers: tusHeaders })).status()).toBe(401);
});

test("GET /api/cohorts lists each person's cohorts with what they may do there, and nobody else's", async () => {
  const [a, b] = [await cohortId(COHORT_A), await cohortId(COHORT_B)];
  const cohortsOf = async (person: { email: string; password: string }) => {
    const res = await (await apiAs(person)).get("/api/cohorts");
    expect(res.status()).toBe(200);
    return ((await res.json()) as { cohorts: { id: string; role: string; may: Record<string, boolean> }[] }).cohorts;
  };
  expect(await cohortsOf(PEOPLE.viewer)).toEqual([
    expect.objectContaining({ id: a, role: "viewer", may: { upload: false, download: true, delete: false } }),
  ]);
  expect(await cohortsOf(PEOPLE.outsider)).toEqual([
    expect.objectContaining({ id: b, role: "manager", may: { upload: true, download: true, delete: true } }),
  ]);
  const everyone = await cohortsOf(ADMIN);
  expect(everyone.map((c) => c.id)).toEqual(expect.arrayContaining([a, b]));
  expect(everyone.every((c) => c.role === "administrator" && c.may.upload && c.may.delete)).toBe(true);

  const anonymous = await request.newContext({ baseURL: E2E_BASE_URL });
  const refused = await anonymous.get("/api/cohorts");
  expect(refused.status()).toBe(401);
  expect((await refused.json()).error.code).toBe("unauthorized");
  await anonymous.dispose();
});

test("behind a trusted proxy the audit trail records the forwarded client address, not the proxy's", async () => {
  const viaProxy = await request.newContext({
    baseURL: E2E_BASE_URL,
    extraHTTPHeaders: { "x-forwarded-for": "198.51.100.23, 203.0.113.7" },
  });
  expect((await viaProxy.post("/api/session", { data: PEOPLE.manager })).status()).toBe(200);
  const res = await viaProxy.post("/api/uploads", {
    multipart: {
      cohortId: await cohortId(COHORT_A),
      kind: "precheck",
      file: { name: "proxied.csv", mimeType: "text/csv", buffer: Buffer.from("id\n1\n") },
    },
  });
  expect(res.status()).toBe(201);
  const { id } = (await res.json()) as { id: string };
  await viaProxy.dispose();
  const sql = database();
  try {
    const rows = await sql<{ server_role: string; actor_ip: string }[]>`
      select server_role::text, actor_ip from phi_file_tracking where file_id = ${id}`;
    expect(new Set(rows.map((r) => r.server_role))).toEqual(new Set(["web", "services"]));
    // The rightmost hop is the one our proxy appended; what the client wrote to its left is not believed.
    expect(rows.every((r) => r.actor_ip === "203.0.113.7")).toBe(true);
  } finally {
    await sql.end();
  }
});
