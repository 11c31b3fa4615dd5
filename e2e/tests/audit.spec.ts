import { randomBytes } from "node:crypto";
import { checkpointKey, createDb, verifySinceCheckpoint } from "@depot/db";
import { expect, test } from "@playwright/test";
import { apiAs, cohortId, database, signIn } from "../helpers";
import { ADMIN, COHORT_A, PEOPLE } from "../people";

test("the audit page shows the last verification with its age and anchor, one request's rows of both tiers, and exports CSV", async ({
  page,
}) => {
  const manager = await apiAs(PEOPLE.manager);
  const res = await manager.post("/api/uploads", {
    multipart: {
      cohortId: await cohortId(COHORT_A),
      kind: "submission",
      file: { name: "audited.csv", mimeType: "text/csv", buffer: Buffer.concat([Buffer.from("a\n"), randomBytes(64)]) },
    },
  });
  expect(res.status()).toBe(201);
  const { id } = (await res.json()) as { id: string };
  await manager.dispose();

  // What the storage service's schedule does every AUDIT_VERIFY_INTERVAL_MINUTES, run now.
  const conn = createDb(process.env.E2E_DATABASE_URL ?? "", { max: 1 });
  try {
    const run = await verifySinceCheckpoint(conn.db, { key: checkpointKey(process.env.E2E_API_KEY ?? "") });
    expect(run).toMatchObject({ ran: true, result: { ok: true } });
  } finally {
    await conn.close();
  }
  await signIn(page, ADMIN);
  await page.goto("/audit");
  await expect(page.getByTestId("chain-status")).toContainText(
    /Verified (less than a minute|\d+ minutes?) ago .*: the hash chain is unbroken up to row \d+/,
  );
  const anchor = (await page.getByTestId("chain-anchor").textContent()) ?? "";
  expect(anchor).toMatch(/^\d+:[0-9a-f]{64}$/);
  const sql = database();
  try {
    const [tail] = await sql<{ anchor: string }[]>`
      select id || ':' || row_hash as anchor from phi_file_tracking where id = ${anchor.split(":")[0] ?? "0"}`;
    expect(tail?.anchor).toBe(anchor);
  } finally {
    await sql.end();
  }

  // Filtered to the file: its upload by both tiers, grouped under one request id.
  await page.goto(`/audit?fileId=${id}&action=stream_upload`);
  const rows = page.getByTestId("audit-row");
  await expect(rows).toHaveCount(2);
  await expect(rows.nth(0)).toContainText(PEOPLE.manager.email);
  const tiers = await rows.locator("td:nth-child(3)").allTextContents();
  expect(tiers.sort()).toEqual(["services", "web"]);
  const requestIds = await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-request-id")));
  expect(requestIds[0]).toBeTruthy();
  expect(requestIds[1]).toBe(requestIds[0]);

  const exported = await page.request.get(`/api/audit/export?fileId=${id}&action=stream_upload`);
  expect(exported.status()).toBe(200);
  expect(exported.headers()["content-type"]).toContain("text/csv");
  const lines = (await exported.text()).trim().split(/\r?\n/);
  expect(lines).toHaveLength(3);
  expect(lines.slice(1).every((line) => line.includes(id) && line.includes("stream_upload"))).toBe(true);

  // Someone who is not an administrator sees neither the page nor the export.
  const viewer = await apiAs(PEOPLE.viewer);
  expect((await viewer.get(`/api/audit/export?fileId=${id}`)).status()).toBe(403);
  await viewer.dispose();
});
