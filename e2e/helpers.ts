import { createHash } from "node:crypto";
import { createReadStream, readFileSync } from "node:fs";
import { type APIRequestContext, expect, type Page, request } from "@playwright/test";
import postgres from "postgres";
import { E2E_BASE_URL } from "./ports";

/** Signs a browser page in through the same API the login page uses. */
export async function signIn(page: Page, who: { email: string; password: string }) {
  const res = await page.request.post("/api/session", { data: who });
  expect(res.status()).toBe(200);
}

/** A separate, signed-in HTTP client: what a script with curl would be. */
export async function apiAs(who: { email: string; password: string }): Promise<APIRequestContext> {
  const context = await request.newContext({ baseURL: E2E_BASE_URL });
  const res = await context.post("/api/session", { data: who });
  expect(res.status()).toBe(200);
  return context;
}

export const sha256File = async (path: string) => {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
};

export const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");

export function database() {
  return postgres(process.env.E2E_DATABASE_URL ?? "", { max: 1, onnotice: () => {} });
}

export async function cohortId(name: string): Promise<string> {
  const sql = database();
  try {
    const [row] = await sql<{ id: string }[]>`select id from cohorts where name = ${name}`;
    if (!row) throw new Error(`no cohort ${name}`);
    return row.id;
  } finally {
    await sql.end();
  }
}

/** Bytes the process has caused to be written to storage devices (Linux /proc/<pid>/io). */
export function writeBytesOf(pid: number): number {
  const line = readFileSync(`/proc/${pid}/io`, "utf8")
    .split("\n")
    .find((l) => l.startsWith("write_bytes:"));
  return Number(line?.split(":")[1]?.trim() ?? Number.NaN);
}
