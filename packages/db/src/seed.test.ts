import { afterAll, beforeAll, expect, test } from "vitest";
import { createDb } from "./client";
import { verifyPassword } from "./passwords";
import { listCohorts } from "./queries/cohorts";
import { countUsers, findUserByEmail } from "./queries/users";
import { DEFAULT_ADMIN_EMAIL, SeedRefusedError, seed } from "./seed";
import { createTestDatabase, type TestDatabase } from "./testing";

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database.drop();
});

test("seed creates the superuser and demo cohorts once, then changes nothing", async () => {
  const { db, close } = createDb(database.url, { max: 2 });
  try {
    const first = await seed(db);
    expect(first.created).toEqual([`superuser ${DEFAULT_ADMIN_EMAIL}`, "cohort Demo Cohort A", "cohort Demo Cohort B"]);
    const admin = await findUserByEmail(db, "EWestlund@JHU.edu");
    expect(admin).toMatchObject({ isSuperuser: true, role: "administrator", isActive: true });
    expect(admin?.passwordHash).toMatch(/^\$argon2id\$/);
    expect(await verifyPassword(admin!.passwordHash, "admin123")).toBe(true);

    const second = await seed(db, { adminPassword: "something-else" });
    expect(second.created).toEqual([]);
    expect(await countUsers(db)).toBe(1);
    expect(await listCohorts(db)).toHaveLength(2);
    const unchanged = await findUserByEmail(db, DEFAULT_ADMIN_EMAIL);
    expect(unchanged?.passwordHash).toBe(admin?.passwordHash);
  } finally {
    await close();
  }
});

test("seed refuses the default password in production and writes nothing", async () => {
  const fresh = await createTestDatabase();
  const { db, close } = createDb(fresh.url, { max: 1 });
  try {
    await expect(seed(db, { production: true })).rejects.toThrow(SeedRefusedError);
    await expect(seed(db, { production: true })).rejects.toThrow(/SEED_ADMIN_PASSWORD/);
    expect(await countUsers(db)).toBe(0);
    const ok = await seed(db, { production: true, adminPassword: "a-long-unique-passphrase" });
    expect(ok.created).toContain(`superuser ${DEFAULT_ADMIN_EMAIL}`);
  } finally {
    await close();
    await fresh.drop();
  }
});
