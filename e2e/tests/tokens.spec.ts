import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect, test } from "@playwright/test";
import { sha256, signIn } from "../helpers";
import { ADMIN, COHORT_A, PEOPLE } from "../people";
import { E2E_BASE_URL } from "../ports";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

/** `pnpm depot …` from the repository, as a fresh clone would run it, with a private HOME. */
function depot(args: string[], env: Record<string, string>, home: string) {
  return spawnSync("pnpm", ["--silent", "depot", ...args], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? "", HOME: home, DEPOT_URL: E2E_BASE_URL, ...env },
    encoding: "utf8",
    timeout: 120_000,
  });
}

test("a token made on the Tokens page uploads with pnpm depot, until it is revoked there", async ({
  page,
  browser,
}) => {
  const home = mkdtempSync(join(tmpdir(), "depot-token-page-"));
  try {
    await signIn(page, PEOPLE.manager);
    await page.goto("/tokens");
    const form = page.getByTestId("create-token-form");
    await form.getByLabel("Name").fill("page-made token");
    await form.getByLabel("Expires after (days, at most 365)").fill("30");
    await form.getByLabel("Cohort").selectOption({ label: COHORT_A });
    await form.getByLabel("Permission").selectOption("upload");
    await form.getByRole("button", { name: "Create token" }).click();
    const secret = (await page.getByTestId("new-token-secret").textContent())?.trim() ?? "";
    expect(secret).toMatch(/^depot_pat_[A-Za-z0-9_-]{43}$/);
    const row = page.getByTestId("my-tokens").locator('[data-name="page-made token"]');
    await expect(row.getByTestId("token-state")).toHaveText("active");
    // Shown once: a reload lists the token by its prefix only.
    await page.reload();
    await expect(page.getByText(secret)).toHaveCount(0);
    await expect(row).toContainText(secret.slice(0, 16));

    const data = randomBytes(64 * 1024);
    const file = join(home, "visits.csv");
    writeFileSync(file, data);
    const upload = depot(
      ["upload", file, "--cohort", COHORT_A, "--kind", "submission", "--json"],
      { DEPOT_TOKEN: secret },
      home,
    );
    expect(upload.status, upload.stderr).toBe(0);
    const result = JSON.parse(upload.stdout) as { uploaded: { sha256: string; name: string }[] };
    expect(result.uploaded[0]).toMatchObject({ sha256: sha256(data), name: "visits.csv" });

    // An administrator sees it among everyone's tokens.
    const adminContext = await browser.newContext({ baseURL: E2E_BASE_URL });
    const adminPage = await adminContext.newPage();
    await signIn(adminPage, ADMIN);
    await adminPage.goto("/tokens");
    await expect(adminPage.getByTestId("all-tokens").locator('[data-name="page-made token"]')).toContainText(
      PEOPLE.manager.email,
    );
    await adminContext.close();

    page.once("dialog", (dialog) => dialog.accept());
    await row.getByTestId("revoke-token").click();
    await expect(row.getByTestId("token-state")).toHaveText("revoked");
    const refused = depot(["cohorts"], { DEPOT_TOKEN: secret }, home);
    expect(refused.status).toBe(3);
    expect(refused.stderr).toContain("was revoked");
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});
