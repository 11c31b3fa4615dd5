import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, type Page, test } from "@playwright/test";
import { apiAs, cohortId, signIn } from "../helpers";
import { ADMIN, COHORT_A, PEOPLE } from "../people";
import { chooseFiles, confirmAndSend, openUploader, throttleTus } from "../uploader";

/** With UI_SCREENSHOTS=<folder> (docs/ui), each page is also photographed at both sizes. */
const shots = process.env.UI_SCREENSHOTS;
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1440, height: 900 };
const LONG_NAME = `${"very-long-cohort-extract-name-without-spaces-".repeat(5)}v2026.csv`;

const pages = [
  { name: "dashboard", path: "/dashboard" },
  { name: "upload", path: "/upload" },
  { name: "files", path: "/files" },
  { name: "audit", path: "/audit" },
  { name: "admin", path: "/admin" },
  { name: "not-found", path: "/no-such-page" },
];

async function noSideScroll(page: Page) {
  const { scrollWidth, innerWidth } = await page.evaluate(() => ({
    scrollWidth: document.scrollingElement?.scrollWidth ?? document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
  }));
  expect(scrollWidth).toBeLessThanOrEqual(innerWidth);
}

async function photograph(page: Page, name: string) {
  if (!shots) return;
  mkdirSync(shots, { recursive: true });
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

test.beforeAll(async () => {
  expect(LONG_NAME.length).toBeGreaterThanOrEqual(234);
  const manager = await apiAs(PEOPLE.manager);
  const res = await manager.post("/api/uploads", {
    multipart: {
      cohortId: await cohortId(COHORT_A),
      kind: "precheck",
      file: { name: LONG_NAME, mimeType: "text/csv", buffer: Buffer.from("id,value\n1,2\n") },
    },
  });
  expect(res.status()).toBe(201);
});

for (const size of [
  { label: "phone", viewport: PHONE },
  { label: "desktop", viewport: DESKTOP },
]) {
  test(`every page fits a ${size.label} (${size.viewport.width} px) with a ${LONG_NAME.length}-character file name present`, async ({
    page,
  }) => {
    await page.setViewportSize(size.viewport);
    await signIn(page, ADMIN);
    for (const p of pages) {
      await page.goto(p.path);
      if (p.name === "upload") await expect(page.getByTestId("uploader")).toHaveAttribute("data-ready", "true");
      await noSideScroll(page);
      await expect(page.getByRole("button", { name: "Sign out" })).toBeInViewport();
      if (p.name === "not-found") await expect(page.getByTestId("not-found")).toBeVisible();
      else await expect(page.locator(`nav a[href="${p.path}"]`)).toHaveAttribute("aria-current", "page");
      await photograph(page, size.label === "phone" ? `${p.name}-phone` : p.name);
    }
    await page.context().clearCookies();
    await page.goto("/login");
    await noSideScroll(page);
    await photograph(page, size.label === "phone" ? "login-phone" : "login");
  });
}

test("on a phone, Pause and Cancel stay on screen while a file uploads", async ({ page }) => {
  await page.setViewportSize(PHONE);
  const path = join(mkdtempSync(join(tmpdir(), "depot-e2e-phone-")), `${LONG_NAME.slice(0, 120)}.csv`);
  writeFileSync(path, Buffer.concat([Buffer.from("id\n"), randomBytes(30 * 1000 * 1000)]));
  await signIn(page, PEOPLE.manager);
  await openUploader(page);
  await throttleTus(page, 1500);
  await chooseFiles(page, path);
  await photograph(page, "upload-review-phone");
  await confirmAndSend(page, { kind: "submission" });
  await expect(page.getByRole("button", { name: "Pause", exact: true }).first()).toBeInViewport();
  await expect(page.getByRole("button", { name: "Cancel", exact: true }).first()).toBeInViewport();
  await noSideScroll(page);
  await photograph(page, "upload-progress-phone");
  await page.getByRole("button", { name: "Cancel", exact: true }).first().click();
});

test("a viewer gets no Upload link, and the current page is marked in the nav", async ({ page }) => {
  await signIn(page, PEOPLE.viewer);
  await page.goto("/files");
  await expect(page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Files" })).toHaveAttribute(
    "aria-current",
    "page",
  );
  await expect(page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Upload" })).toHaveCount(0);
  const icon = await page.request.get("/icon.svg");
  expect(icon.status()).toBe(200);
  expect(await page.locator('link[rel="icon"]').count()).toBeGreaterThan(0);
  const missing = await page.goto("/nowhere-at-all");
  expect(missing?.status()).toBe(404);
  await expect(page.getByRole("heading", { name: "Page not found" })).toBeVisible();
});

test("the Files page: uploader chosen by email from a list, a bad filter is named and the others kept", async ({
  page,
}) => {
  await signIn(page, PEOPLE.manager);
  await page.goto("/files?kind=precheck&from=not-a-date");
  await expect(page.getByTestId("filter-errors")).toContainText('From: "not-a-date" is not a valid value');
  await expect(page.getByLabel("Kind")).toHaveValue("precheck");
  await expect(page.getByTestId("file-row").first()).toBeVisible();
  await page.getByLabel("Uploader").selectOption({ label: `Maria Manager (${PEOPLE.manager.email})` });
  await page.getByRole("button", { name: "Filter" }).click();
  await expect(page.getByTestId("filter-errors")).toHaveCount(0);
  const row = page.getByTestId("file-row").filter({ hasText: LONG_NAME.slice(0, 40) });
  await expect(row).toContainText(PEOPLE.manager.email);
  await expect(row).toContainText("UTC");
  await expect(row.getByTestId("file-expires")).toContainText("removed after");
  await expect(row.getByTestId("file-sha256")).toHaveText(/^[0-9a-f]{64}$/);
  await expect(page.getByLabel("Kind")).toHaveValue("precheck");
});
