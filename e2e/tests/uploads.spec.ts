import { randomBytes } from "node:crypto";
import { mkdtempSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, test } from "@playwright/test";
import { database, sha256, sha256File, signIn, writeBytesOf } from "../helpers";
import { PEOPLE } from "../people";
import { chooseFiles, confirmAndSend, openUploader, storedSha256 } from "../uploader";

const workDir = mkdtempSync(join(tmpdir(), "depot-e2e-files-"));

async function auditTiersOf(fileId: string) {
  const sql = database();
  try {
    return await sql<{ server_role: string; action: string; request_id: string }[]>`
      select server_role, action, request_id from phi_file_tracking where file_id = ${fileId} order by id`;
  } finally {
    await sql.end();
  }
}

async function storedFile(fileId: string) {
  const sql = database();
  try {
    const [row] = await sql<{ storage_key: string; size: string; sha256: string; status: string }[]>`
      select storage_key, size, sha256, status from files where id = ${fileId}`;
    return row;
  } finally {
    await sql.end();
  }
}

test("a small upload from the page shows the file's sha256, both tiers audit it, and it downloads identically", async ({
  page,
}) => {
  const data = Buffer.concat([Buffer.from("patient_id,visit\n"), randomBytes(200_000)]);
  const path = join(workDir, "visits.csv");
  writeFileSync(path, data);
  await signIn(page, PEOPLE.manager);
  await openUploader(page);
  await chooseFiles(page, path);
  await confirmAndSend(page, { kind: "submission" });
  await expect(storedSha256(page, "visits.csv")).toHaveText(sha256(data));

  const sql = database();
  const [row] = await sql<
    { id: string }[]
  >`select id from files where original_name = 'visits.csv' order by created_at desc limit 1`;
  await sql.end();
  const fileId = row!.id;
  const rows = await auditTiersOf(fileId);
  // The page sends every file through tus: creation and completion, each recorded by both tiers under one request id.
  for (const action of ["chunked_upload_created", "chunked_upload_completed"]) {
    const pair = rows.filter((r) => r.action === action);
    expect(pair.map((r) => r.server_role).sort()).toEqual(["services", "web"]);
    expect(new Set(pair.map((r) => r.request_id)).size).toBe(1);
  }

  const download = await page.request.get(`/api/files/${fileId}/download`);
  expect(download.status()).toBe(200);
  expect(download.headers()["content-disposition"]).toContain('filename="visits.csv"');
  expect(sha256(await download.body())).toBe(sha256(data));
  // Each tier records a download once its last byte went out, so the rows may land a moment after the body.
  await expect
    .poll(async () =>
      (await auditTiersOf(fileId))
        .filter((r) => r.action === "stream_download")
        .map((r) => r.server_role)
        .sort(),
    )
    .toEqual(["services", "web"]);
});

test("a 60 MB upload goes through tus, survives a network cut, and the web server writes none of it to disk", async ({
  page,
}) => {
  const path = join(workDir, "cohort-extract.csv");
  writeFileSync(path, randomBytes(60 * 1000 * 1000));
  const expected = await sha256File(path);
  await signIn(page, PEOPLE.manager);
  await openUploader(page);

  let patches = 0;
  let cut = false;
  await page.route("**/api/uploads/tus/**", async (route) => {
    if (route.request().method() === "PATCH" && ++patches === 3 && !cut) {
      cut = true;
      await route.abort("connectionreset");
      return;
    }
    await route.continue();
  });

  const webPid = Number(process.env.E2E_WEB_PID);
  const writtenBefore = writeBytesOf(webPid);
  await chooseFiles(page, path);
  await confirmAndSend(page, { kind: "submission" });
  await expect(storedSha256(page, "cohort-extract.csv")).toHaveText(expected, { timeout: 120_000 });
  expect(cut).toBe(true);
  const writtenByWeb = writeBytesOf(webPid) - writtenBefore;

  const sql = database();
  const [row] = await sql<
    { id: string }[]
  >`select id from files where original_name = 'cohort-extract.csv' order by created_at desc limit 1`;
  await sql.end();
  const file = await storedFile(row!.id);
  expect(file).toMatchObject({ status: "stored", sha256: expected, size: "60000000" });
  expect(statSync(join(process.env.E2E_STORAGE_ROOT ?? "", file!.storage_key)).size).toBe(60 * 1000 * 1000);
  // The web process handled 60 MB; what it wrote to disk meanwhile is far less than one 8 MiB chunk.
  expect(writtenByWeb).toBeLessThan(1024 * 1024);

  const actions = (await auditTiersOf(row!.id)).map((r) => `${r.server_role}:${r.action}`);
  expect(actions).toEqual(
    expect.arrayContaining([
      "web:chunked_upload_created",
      "services:chunked_upload_created",
      "services:chunked_upload_completed",
      "web:chunked_upload_completed",
    ]),
  );
  const download = await page.request.get(`/api/files/${row!.id}/download`);
  expect(sha256(await download.body())).toBe(expected);
});
