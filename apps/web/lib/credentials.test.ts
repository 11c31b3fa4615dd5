import { createDb, createUser, type Database, seed, users } from "@depot/db";
import { createTestDatabase, type TestDatabase } from "@depot/db/testing";
import { eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, expect, test } from "vitest";
import { checkCredentials, LOGIN_LIMITS } from "./credentials";

let database: TestDatabase;
let db: Database;
let close: () => Promise<void>;
beforeAll(async () => {
  database = await createTestDatabase();
  ({ db, close } = createDb(database.url, { max: 10 }));
  await seed(db);
});
afterAll(async () => {
  await close();
  await database.drop();
});

const attempt = (email: string, password: string, ip = "192.0.2.1") => checkCredentials(db, { email, password, ip });

test("the seeded user signs in, whatever the email's case", async () => {
  const result = await attempt("EWestlund@jhu.edu", "admin123");
  expect(result.ok).toBe(true);
  expect(result.ok && result.user.email).toBe("ewestlund@jhu.edu");
  const [row] = await db
    .select({ lastLoginAt: users.lastLoginAt })
    .from(users)
    .where(eq(users.email, "ewestlund@jhu.edu"));
  expect(row?.lastLoginAt).toBeInstanceOf(Date);
});

test("a wrong password and an unknown email get the same clear message, and are audited", async () => {
  expect(await attempt("ewestlund@jhu.edu", "wrong", "192.0.2.2")).toEqual({
    ok: false,
    reason: "invalid",
    message: "Incorrect email or password.",
  });
  expect(await attempt("nobody@example.org", "admin123", "192.0.2.2")).toMatchObject({
    reason: "invalid",
    message: "Incorrect email or password.",
  });
  const rows = await db.execute(
    sql`select action, outcome, actor_ip from phi_file_tracking where actor_ip = '192.0.2.2' order by id`,
  );
  expect(rows.map((r) => [r.action, r.outcome])).toEqual([
    ["login_failed", "failure"],
    ["login_failed", "failure"],
  ]);
});

test("a deactivated account is refused even with the right password", async () => {
  await createUser(db, { email: "gone@example.org", name: "Gone", password: "pass-word-1" });
  await db.update(users).set({ isActive: false }).where(eq(users.email, "gone@example.org"));
  expect(await attempt("gone@example.org", "pass-word-1", "192.0.2.3")).toMatchObject({
    ok: false,
    reason: "inactive",
  });
});

test(`after ${LOGIN_LIMITS.perAccount} failures in a minute even the right password is refused`, async () => {
  await createUser(db, { email: "target@example.org", name: "Target", password: "right-password" });
  for (let i = 0; i < LOGIN_LIMITS.perAccount; i++) {
    expect(await attempt("target@example.org", `guess-${i}`, `198.51.100.${i}`)).toMatchObject({ reason: "invalid" });
  }
  expect(await attempt("target@example.org", "right-password", "198.51.100.99")).toMatchObject({
    ok: false,
    reason: "rate_limited",
    message: "Too many failed sign-in attempts. Wait a minute and try again.",
    retryAfterSeconds: 60,
  });
});

test("one person's typos behind a shared address do not lock out the others there; spraying it does", async () => {
  const nat = "203.0.113.7";
  await createUser(db, { email: "typist@example.org", name: "Typist", password: "typist-password" });
  await createUser(db, { email: "colleague@example.org", name: "Colleague", password: "colleague-password" });
  for (let i = 0; i < LOGIN_LIMITS.perAccount; i++) await attempt("typist@example.org", `typo-${i}`, nat);
  expect(await attempt("typist@example.org", "typist-password", nat)).toMatchObject({ reason: "rate_limited" });
  expect(await attempt("colleague@example.org", "colleague-password", nat)).toMatchObject({ ok: true });
  // Spraying one password over many accounts from that address stops at the per-address limit.
  for (let i = LOGIN_LIMITS.perAccount; i < LOGIN_LIMITS.perAddress; i++) {
    expect(await attempt(`spray-${i}@example.org`, "Winter2026!", nat)).toMatchObject({ reason: "invalid" });
  }
  expect(await attempt("colleague@example.org", "colleague-password", nat)).toMatchObject({ reason: "rate_limited" });
});

test("concurrent wrong passwords for one account cannot exceed the limit (the check and the count are one step)", async () => {
  await createUser(db, { email: "burst@example.org", name: "Burst", password: "burst-password" });
  const results = await Promise.all(
    Array.from({ length: 20 }, (_, i) => attempt("burst@example.org", `burst-${i}`, `192.0.2.${100 + i}`)),
  );
  const reasons = results.map((r) => (r.ok ? "ok" : r.reason));
  expect(reasons.filter((r) => r === "invalid")).toHaveLength(LOGIN_LIMITS.perAccount);
  expect(reasons.filter((r) => r === "rate_limited")).toHaveLength(20 - LOGIN_LIMITS.perAccount);
});
