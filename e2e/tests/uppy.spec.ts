import { randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, test } from "@playwright/test";
import { apiAs, cohortId, sha256, sha256File, signIn } from "../helpers";
import { ADMIN, COHORT_A, COHORT_B, PEOPLE } from "../people";
import { chooseFiles, confirmAndSend, latestFile, openUploader, storedSha256, throttleTus } from "../uploader";

const workDir = mkdtempSync(join(tmpdir(), "depot-e2e-uppy-"));
const MB = 1000 * 1000;

function bigFile(name: string, bytes: number) {
  const path = join(workDir, name);
  writeFileSync(path, Buffer.concat([Buffer.from("id,value\n"), randomBytes(bytes - 9)]));
  return path;
}

test("nothing is sent until cohort and kind are chosen and confirmed, and the row says where the file went", async ({
  page,
}) => {
  const data = Buffer.from(`patient_id,visit\n${"1,2\n".repeat(5000)}`);
  const path = join(workDir, "confirm-me.csv");
  writeFileSync(path, data);
  const creations: string[] = [];
  page.on("request", (r) => {
    if (r.url().includes("/api/uploads") && r.method() === "POST") creations.push(r.url());
  });
  // The administrator may upload to every cohort: none is preselected.
  await signIn(page, ADMIN);
  await openUploader(page);
  await expect(page.getByLabel("Cohort", { exact: true })).toHaveValue("");
  await chooseFiles(page, path);
  await expect(page.getByTestId("confirm-missing")).toContainText("the cohort and the kind");
  await page.getByLabel("Cohort", { exact: true }).selectOption({ label: COHORT_B });
  await page.getByRole("radio", { name: /^Precheck/ }).check();
  await expect(page.getByTestId("confirm-text")).toHaveText(
    `Send 1 file (${Math.round(data.length / 1024)} KB) to ${COHORT_B} as a precheck (checked, then removed).`,
  );
  await expect(page.getByTestId("start-upload")).toBeDisabled();
  await page.waitForTimeout(1000);
  expect(creations).toEqual([]);

  await page.getByTestId("confirm-checkbox").check();
  await page.getByTestId("start-upload").click();
  await expect(storedSha256(page, "confirm-me.csv")).toHaveText(sha256(data));
  const row = page.getByTestId("stored-row").filter({ hasText: "confirm-me.csv" });
  await expect(row).toContainText(`${COHORT_B} · precheck`);
  await expect(row).toContainText("removed after");
  expect(await latestFile("confirm-me.csv")).toMatchObject({
    status: "stored",
    sha256: sha256(data),
    cohort: COHORT_B,
    kind: "precheck",
  });
});

test("what only the audit trail saw is shown: an empty file, content unlike its name, a duplicate in the cohort", async ({
  page,
}) => {
  const empty = join(workDir, "empty.csv");
  writeFileSync(empty, "");
  const binary = Buffer.concat([Buffer.from([0, 1, 2, 3, 0, 0, 255]), randomBytes(4000)]);
  const binaryPath = join(workDir, "not-really.csv");
  writeFileSync(binaryPath, binary);
  const twice = Buffer.from("id,score\n1,2\n3,4\n");
  const first = join(workDir, "first-copy.csv");
  const second = join(workDir, "second-copy.csv");
  writeFileSync(first, twice);
  writeFileSync(second, twice);
  const manager = await apiAs(PEOPLE.manager);
  const res = await manager.post("/api/uploads", {
    multipart: {
      cohortId: await cohortId(COHORT_A),
      kind: "submission",
      file: { name: "first-copy.csv", mimeType: "text/csv", buffer: twice },
    },
  });
  expect(res.status()).toBe(201);

  await signIn(page, PEOPLE.manager);
  await openUploader(page);
  // A manager of one cohort: it is named, and still confirmed.
  await expect(page.getByLabel("Cohort", { exact: true })).toHaveValue(await cohortId(COHORT_A));
  await chooseFiles(page, [empty, binaryPath, second]);
  await expect(page.getByTestId("refused-files")).toContainText("empty.csv");
  await expect(page.getByTestId("refused-files")).toContainText("empty (0 bytes)");
  await confirmAndSend(page, { kind: "submission" });
  await expect(storedSha256(page, "not-really.csv")).toHaveText(sha256(binary));
  await expect(storedSha256(page, "second-copy.csv")).toHaveText(sha256(twice));
  const mismatch = page.getByTestId("stored-row").filter({ hasText: "not-really.csv" });
  await expect(mismatch.getByTestId("warning-mismatch")).toHaveText(
    "The content looks like binary, not .csv as its name says.",
  );
  const duplicate = page.getByTestId("stored-row").filter({ hasText: "second-copy.csv" });
  await expect(duplicate.getByTestId("warning-duplicate")).toContainText("first-copy.csv");
  expect(await latestFile("empty.csv")).toBeUndefined();
});

test("a 10 s Wi-Fi drop mid-upload (browser offline) ends in a stored file without a click", async ({
  page,
  context,
}) => {
  const path = bigFile("offline-drop.csv", 40 * MB);
  const expected = await sha256File(path);
  await signIn(page, PEOPLE.manager);
  await openUploader(page);
  let patches = 0;
  let wentOffline = false;
  await page.route("**/api/uploads/tus/**", async (route) => {
    if (route.request().method() === "PATCH" && ++patches === 2 && !wentOffline) {
      wentOffline = true;
      await context.setOffline(true);
      await route.abort("internetdisconnected");
      return;
    }
    await route.continue().catch(() => {});
  });
  await chooseFiles(page, path);
  await confirmAndSend(page, { kind: "submission" });
  await expect(page.getByTestId("offline-banner")).toBeVisible({ timeout: 60_000 });
  await page.waitForTimeout(10_000);
  const during = await latestFile("offline-drop.csv");
  expect(during?.status).toBe("uploading");
  await context.setOffline(false);
  await expect(page.getByTestId("offline-banner")).toBeHidden();
  await expect(storedSha256(page, "offline-drop.csv")).toHaveText(expected, { timeout: 120_000 });
  expect(await latestFile("offline-drop.csv")).toMatchObject({ status: "stored", sha256: expected });
});

test("a reload mid-upload warns first, lists the upload, and the file chosen again resumes from the server's offset", async ({
  page,
}) => {
  const path = bigFile("reload-resume.csv", 60 * MB);
  const expected = await sha256File(path);
  await signIn(page, PEOPLE.manager);
  await openUploader(page);
  await throttleTus(page, 700);
  await chooseFiles(page, path);
  await confirmAndSend(page, { kind: "submission" });
  await expect
    .poll(async () => Number((await latestFile("reload-resume.csv"))?.offset ?? 0), { timeout: 60_000 })
    .toBeGreaterThanOrEqual(16 * 1024 * 1024);

  let guarded = false;
  page.once("dialog", async (dialog) => {
    guarded = dialog.type() === "beforeunload";
    await dialog.accept();
  });
  await page.reload();
  expect(guarded).toBe(true);
  await expect(page.getByTestId("uploader")).toHaveAttribute("data-ready", "true");
  const serverOffset = Number((await latestFile("reload-resume.csv"))?.offset);
  expect(serverOffset).toBeGreaterThan(0);
  await expect(page.getByTestId("unfinished-uploads")).toContainText("reload-resume.csv");

  const offsets = await throttleTus(page, 0);
  await chooseFiles(page, path);
  await confirmAndSend(page, { kind: "submission" });
  await expect(storedSha256(page, "reload-resume.csv")).toHaveText(expected, { timeout: 120_000 });
  // The first PATCH after the reload continued at the offset the server had acknowledged.
  expect(offsets[0]).toBe(serverOffset);
  expect(await latestFile("reload-resume.csv")).toMatchObject({ status: "stored", sha256: expected });
});

test("cancel ends the upload on the server, and the cancelled file is hidden from the default Files view", async ({
  page,
}) => {
  const path = bigFile("cancel-me.csv", 40 * MB);
  await signIn(page, PEOPLE.manager);
  await openUploader(page);
  await throttleTus(page, 800);
  await chooseFiles(page, path);
  await confirmAndSend(page, { kind: "submission" });
  await expect
    .poll(async () => Number((await latestFile("cancel-me.csv"))?.offset ?? 0), { timeout: 60_000 })
    .toBeGreaterThan(0);
  await page.getByRole("button", { name: "Cancel", exact: true }).first().click();
  await expect.poll(async () => (await latestFile("cancel-me.csv"))?.status, { timeout: 30_000 }).toBe("failed");
  const file = await latestFile("cancel-me.csv");

  await page.goto("/files");
  await expect(page.getByTestId("file-table")).toBeVisible();
  await expect(page.locator(`[data-file-id="${file?.id}"]`)).toHaveCount(0);
  await page.goto("/files?status=failed");
  await expect(page.locator(`[data-file-id="${file?.id}"]`)).toBeVisible();
});

test("an upload whose PATCHes meet a storage 5xx is retried and stored intact", async ({ page }) => {
  const path = bigFile("after-5xx.csv", 30 * MB);
  const expected = await sha256File(path);
  await signIn(page, PEOPLE.manager);
  await openUploader(page);
  let patches = 0;
  let refused = 0;
  await page.route("**/api/uploads/tus/**", async (route) => {
    if (route.request().method() === "PATCH" && ++patches >= 2 && refused < 2) {
      refused++;
      await route.fulfill({
        status: 502,
        contentType: "application/json",
        headers: { "tus-resumable": "1.0.0" },
        body: JSON.stringify({ error: { code: "storage_unavailable", message: "the storage service failed" } }),
      });
      return;
    }
    await route.continue().catch(() => {});
  });
  await chooseFiles(page, path);
  await confirmAndSend(page, { kind: "submission" });
  await expect(storedSha256(page, "after-5xx.csv")).toHaveText(expected, { timeout: 120_000 });
  expect(refused).toBe(2);
  expect(await latestFile("after-5xx.csv")).toMatchObject({ status: "stored", sha256: expected });
});
