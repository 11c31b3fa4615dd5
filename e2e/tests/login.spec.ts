import { HEADER } from "@depot/contract";
import { expect, test } from "@playwright/test";
import { ADMIN } from "../people";

test("the seeded administrator signs in, sees storage healthy, and signs out", async ({ page }) => {
  await page.goto("/dashboard");
  await expect(page).toHaveURL(/\/login/);
  await page.getByLabel("Email").fill(ADMIN.email);
  await page.getByLabel("Password").fill(ADMIN.password);
  await page.getByRole("button", { name: "Sign in" }).click();

  await expect(page).toHaveURL(/\/dashboard$/);
  await expect(page.getByTestId("dashboard-user")).toContainText(ADMIN.email);
  await expect(page.getByTestId("storage-status")).toHaveText("healthy");
  await expect(page.getByTestId("storage-health")).toContainText("local");
  // The administrator sees the stack's one storage replica and its web server by their heartbeats, both alive.
  const replicas = page.getByTestId("replicas");
  await expect(replicas.locator('[data-role="services"][data-alive="true"]')).toHaveCount(1);
  await expect(replicas.locator('[data-role="web"][data-alive="true"]')).toHaveCount(1);
  await expect(replicas.locator('[data-alive="false"]')).toHaveCount(0);

  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/login/);
  await page.goto("/dashboard");
  await expect(page).toHaveURL(/\/login/);
});

test("a wrong password is refused with a clear message", async ({ page }) => {
  await page.goto("/login");
  await page.getByLabel("Email").fill(ADMIN.email);
  await page.getByLabel("Password").fill("not-the-password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByTestId("login-error")).toHaveText("Incorrect email or password.");
  await expect(page).toHaveURL(/\/login/);
});

// What browsers normalise: a backslash is a slash, a tab vanishes. Each would have sent the person off-site.
for (const callbackUrl of ["/\\evil.example", "/%09/evil.example", "/.//evil.example"]) {
  test(`after signing in, callbackUrl=${callbackUrl} stays on Depot`, async ({ page }) => {
    await page.goto(`/login?callbackUrl=${callbackUrl}`);
    await page.getByLabel("Email").fill(ADMIN.email);
    await page.getByLabel("Password").fill(ADMIN.password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect(page).toHaveURL(/\/dashboard$/);
    expect(new URL(page.url()).host).toBe(new URL(test.info().project.use.baseURL ?? "").host);
    // Sign out is a client button: a click before the page's scripts have run does nothing.
    await page.waitForLoadState("networkidle");
    await page.getByRole("button", { name: "Sign out" }).click();
    await expect(page).toHaveURL(/\/login/);
  });
}

test("a same-origin callbackUrl is followed", async ({ page }) => {
  await page.goto("/login?callbackUrl=/files");
  await page.getByLabel("Email").fill(ADMIN.email);
  await page.getByLabel("Password").fill(ADMIN.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(/\/files$/);
});

test("the web's /health names every replica by its heartbeat, behind the internal API key", async ({ request }) => {
  expect((await request.get("/health")).status()).toBe(401);
  const res = await request.get("/health", { headers: { [HEADER.apiKey]: process.env.E2E_API_KEY ?? "" } });
  expect(res.status()).toBe(200);
  const body = (await res.json()) as { status: string; storageReplicasAlive: number; replicas: { role: string }[] };
  expect(body).toMatchObject({ status: "ok", serverRole: "web", database: true, storageReplicasAlive: 1 });
  expect(body.replicas.map((r) => r.role).sort()).toEqual(["services", "web"]);
});
