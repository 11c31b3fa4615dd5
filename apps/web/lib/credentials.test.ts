import { createDb, createUser, type Database, seed, users } from "@depot/db";
import { createTestDatabase, type TestDatabase } from "@depot/db/testing";
import { eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, expect, test } from "vitest";
import { checkCredentials, MAX_FAILED_LOGINS_PER_MINUTE } from "./credentials";

let database: TestDatabase;
let db: Database;
let close: () => Promise<void>;
beforeAll(async () => {
  database = await createTestDatabase();
  ({ db, close } = createDb(database.url, { max: 2 }));
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

test(`after ${MAX_FAILED_LOGINS_PER_MINUTE} failures in a minute even the right password is refused`, async () => {
  await createUser(db, { email: "target@example.org", name: "Target", password: "right-password" });
  for (let i = 0; i < MAX_FAILED_LOGINS_PER_MINUTE; i++) {
    expect(await attempt("target@example.org", `guess-${i}`, `198.51.100.${i}`)).toMatchObject({ reason: "invalid" });
  }
  expect(await attempt("target@example.org", "right-password", "198.51.100.99")).toMatchObject({
    ok: false,
    reason: "rate_limited",
    message: "Too many failed sign-in attempts. Wait a minute and try again.",
  });
  // Per address too: another account from an address that failed five times.
  for (let i = 0; i < MAX_FAILED_LOGINS_PER_MINUTE; i++) await attempt(`x${i}@example.org`, "x", "203.0.113.7");
  expect(await attempt("ewestlund@jhu.edu", "admin123", "203.0.113.7")).toMatchObject({ reason: "rate_limited" });
});
