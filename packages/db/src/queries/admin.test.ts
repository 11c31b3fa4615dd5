import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createDb, type Database } from "../client";
import { verifyPassword } from "../passwords";
import { createTestDatabase, type TestDatabase } from "../testing";
import {
  createCohort,
  createUserAccount,
  DuplicateError,
  isUniqueViolation,
  listCohortsWithCounts,
  listUsers,
  resetPassword,
  setUserActive,
  updateUserRole,
} from "./admin";
import { removeMembership, setMembership } from "./cohorts";
import { createFileRecord, markFileDeleted, markFileStored } from "./files";
import { createUser, findUserById } from "./users";

let database: TestDatabase;
let db: Database;
let close: () => Promise<void>;
beforeAll(async () => {
  database = await createTestDatabase();
  ({ db, close } = createDb(database.url, { max: 3 }));
});
afterAll(async () => {
  await close();
  await database.drop();
});

const MISSING = "00000000-0000-4000-8000-000000000000";

describe("users", () => {
  test("listUsers returns every user with memberships and never a password hash", async () => {
    const ann = await createUser(db, { email: "Ann@Example.org", name: "Ann", password: "ann-password-1" });
    const bob = await createUser(db, { email: "bob@example.org", name: "Bob", password: "bob-password-1" });
    const alpha = await createCohort(db, { name: "Alpha", description: "first" });
    const beta = await createCohort(db, { name: "Beta" });
    await setMembership(db, { userId: ann.id, cohortId: beta.id, role: "viewer" });
    await setMembership(db, { userId: ann.id, cohortId: alpha.id, role: "manager" });

    const list = await listUsers(db);
    const a = list.find((u) => u.id === ann.id);
    const b = list.find((u) => u.id === bob.id);
    expect(a).toMatchObject({ email: "ann@example.org", name: "Ann", role: "member", isActive: true });
    expect(a?.memberships).toEqual([
      { cohortId: alpha.id, cohortName: "Alpha", role: "manager" },
      { cohortId: beta.id, cohortName: "Beta", role: "viewer" },
    ]);
    expect(b?.memberships).toEqual([]);
    for (const u of list) expect(u).not.toHaveProperty("passwordHash");
    expect(JSON.stringify(list)).not.toContain("$argon2");
    // Ordered by email.
    expect(list.map((u) => u.email)).toEqual([...list.map((u) => u.email)].sort());

    await removeMembership(db, { userId: ann.id, cohortId: beta.id });
    const after = (await listUsers(db)).find((u) => u.id === ann.id);
    expect(after?.memberships.map((m) => m.cohortName)).toEqual(["Alpha"]);
  });

  test("createUserAccount refuses an email that is taken in any letter case", async () => {
    const first = await createUserAccount(db, {
      email: "carol@example.org",
      name: "Carol",
      password: "carol-pass-123",
    });
    expect(first.passwordHash).toMatch(/^\$argon2id\$/);
    await expect(
      createUserAccount(db, { email: "  CAROL@example.org ", name: "Carol 2", password: "carol-pass-456" }),
    ).rejects.toThrow(DuplicateError);
    await expect(
      createUserAccount(db, { email: "carol@example.org", name: "Carol 3", password: "carol-pass-789" }),
    ).rejects.toThrow(/already exists/);
  });

  test("a duplicate insert is recognised as a unique violation through Drizzle's wrapper", async () => {
    const error = await createUser(db, { email: "carol@example.org", name: "x", password: "whatever-123" }).catch(
      (e: unknown) => e,
    );
    expect(isUniqueViolation(error)).toBe(true);
    expect(isUniqueViolation(new Error("other"))).toBe(false);
    expect(isUniqueViolation(null)).toBe(false);
  });

  test("setUserActive deactivates and reactivates; unknown ids give undefined", async () => {
    const dan = await createUser(db, { email: "dan@example.org", name: "Dan", password: "dan-password-1" });
    expect((await setUserActive(db, dan.id, false))?.isActive).toBe(false);
    expect((await findUserById(db, dan.id))?.isActive).toBe(false);
    expect((await setUserActive(db, dan.id, true))?.isActive).toBe(true);
    expect(await setUserActive(db, MISSING, false)).toBeUndefined();
  });

  test("resetPassword changes which password verifies", async () => {
    const eve = await createUser(db, { email: "eve@example.org", name: "Eve", password: "old-password-1" });
    expect(await resetPassword(db, eve.id, "brand-new-password-2")).toBe(true);
    const updated = await findUserById(db, eve.id);
    expect(updated?.passwordHash).toMatch(/^\$argon2id\$/);
    expect(updated?.passwordHash).not.toBe(eve.passwordHash);
    expect(await verifyPassword(updated!.passwordHash, "brand-new-password-2")).toBe(true);
    expect(await verifyPassword(updated!.passwordHash, "old-password-1")).toBe(false);
    expect(await resetPassword(db, MISSING, "whatever-password")).toBe(false);
  });

  test("updateUserRole switches between member and administrator", async () => {
    const fay = await createUser(db, { email: "fay@example.org", name: "Fay", password: "fay-password-1" });
    expect((await updateUserRole(db, fay.id, "administrator"))?.role).toBe("administrator");
    expect((await findUserById(db, fay.id))?.role).toBe("administrator");
    expect((await updateUserRole(db, fay.id, "member"))?.role).toBe("member");
    expect(await updateUserRole(db, MISSING, "member")).toBeUndefined();
  });
});

describe("cohorts", () => {
  test("createCohort trims, and refuses a name that is taken (in any letter case) with a clear error", async () => {
    const gamma = await createCohort(db, { name: "  Gamma ", description: " third " });
    expect(gamma).toMatchObject({ name: "Gamma", description: "third" });
    await expect(createCohort(db, { name: "Gamma" })).rejects.toThrow('a cohort named "Gamma" already exists');
    await expect(createCohort(db, { name: "gamma" })).rejects.toBeInstanceOf(DuplicateError);
  });

  test("listCohortsWithCounts counts members, stored files and their bytes without double counting", async () => {
    const cohort = await createCohort(db, { name: "Counted" });
    const empty = await createCohort(db, { name: "Empty" });
    const users = await Promise.all(
      [1, 2, 3].map((n) =>
        createUser(db, { email: `counted${n}@example.org`, name: `C${n}`, password: "counted-password" }),
      ),
    );
    for (const [i, u] of users.entries())
      await setMembership(db, { userId: u.id, cohortId: cohort.id, role: i === 0 ? "manager" : "viewer" });
    const make = async (n: number, size: number | null, state: "stored" | "uploading" | "deleted") => {
      const file = await createFileRecord(db, {
        cohortId: cohort.id,
        uploaderId: users[0]!.id,
        originalName: `f${n}.csv`,
        storageDisk: "workspace",
        storageKey: `${cohort.id}/2026/01/f${n}`,
        kind: "submission",
      });
      if (state !== "uploading" && size !== null) await markFileStored(db, file.id, { size, sha256: "0".repeat(64) });
      if (state === "deleted") await markFileDeleted(db, file.id);
    };
    await make(1, 1000, "stored");
    await make(2, 2500, "stored");
    await make(3, 4_000_000_000, "stored"); // beyond 32 bits
    await make(4, null, "uploading");
    await make(5, 99, "deleted");

    const list = await listCohortsWithCounts(db);
    expect(list.find((c) => c.id === cohort.id)).toMatchObject({
      name: "Counted",
      members: 3,
      files: 3,
      bytes: 4_000_003_500,
    });
    expect(list.find((c) => c.id === empty.id)).toMatchObject({ members: 0, files: 0, bytes: 0 });
    expect(list.map((c) => c.name)).toEqual([...list.map((c) => c.name)].sort());
  });
});
