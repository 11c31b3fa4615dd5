import { expect, type Page } from "@playwright/test";
import { database } from "./helpers";

/** The upload page, once Uppy's Dashboard is on it. */
export async function openUploader(page: Page) {
  await page.goto("/upload");
  await expect(page.getByTestId("uploader")).toHaveAttribute("data-ready", "true");
  await expect(page.locator(".uppy-Dashboard")).toBeVisible();
}

/** Adds files to the Dashboard's list (nothing is sent until the batch is confirmed). */
export async function chooseFiles(page: Page, paths: string | string[]) {
  await page.locator("input.uppy-Dashboard-input[type=file]").first().setInputFiles(paths);
}

/** Picks cohort (when there is a choice) and kind, ticks the confirmation and presses Upload. */
export async function confirmAndSend(page: Page, batch: { cohort?: string; kind: "submission" | "precheck" }) {
  if (batch.cohort) await page.getByLabel("Cohort", { exact: true }).selectOption({ label: batch.cohort });
  await page.getByRole("radio", { name: batch.kind === "submission" ? /^Submission/ : /^Precheck/ }).check();
  await page.getByTestId("confirm-checkbox").check();
  await page.getByTestId("start-upload").click();
}

/** The stored row the page shows for a file name, and its sha256 cell. */
export const storedSha256 = (page: Page, name: string) =>
  page.getByTestId("stored-row").filter({ hasText: name }).getByTestId("stored-sha256");

/** Slows every tus PATCH down so a test can act mid-upload; returns the Upload-Offset of each PATCH sent. */
export async function throttleTus(page: Page, delayMs: number) {
  const offsets: number[] = [];
  await page.route("**/api/uploads/tus/**", async (route) => {
    if (route.request().method() === "PATCH") {
      offsets.push(Number(route.request().headers()["upload-offset"]));
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
    await route.continue().catch(() => {});
  });
  return offsets;
}

export async function latestFile(name: string) {
  const sql = database();
  try {
    const [row] = await sql<
      { id: string; status: string; sha256: string | null; kind: string; cohort: string; offset: string | null }[]
    >`select f.id, f.status, f.sha256, f.kind, c.name as cohort, r."offset"::text as "offset"
        from files f join cohorts c on c.id = f.cohort_id
        left join resumable_uploads r on r.file_id = f.id
       where f.original_name = ${name} order by f.created_at desc limit 1`;
    return row;
  } finally {
    await sql.end();
  }
}
