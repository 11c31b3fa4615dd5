import { afterAll, beforeAll, expect, test } from "vitest";
import { createDb, type Database } from "../client";
import { createTestDatabase, type TestDatabase } from "../testing";
import { createCohort } from "./admin";
import { createFileRecord, duplicatesOf, markFileDeleted, markFileStored, uploadersIn } from "./files";
import { createUser } from "./users";

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

const file = (cohortId: string, uploaderId: string, name: string) =>
  createFileRecord(db, {
    cohortId,
    uploaderId,
    originalName: name,
    storageDisk: "workspace",
    storageKey: `${cohortId}/${name}`,
    kind: "submission",
  });

test("duplicatesOf finds other stored files of the cohort with the same sha256, and nothing else", async () => {
  const ann = await createUser(db, { email: "ann@example.org", name: "Ann", password: "ann-password-1" });
  const [a, b] = [await createCohort(db, { name: "Dup A" }), await createCohort(db, { name: "Dup B" })];
  const same = "a".repeat(64);
  const first = await file(a.id, ann.id, "first.csv");
  const gone = await file(a.id, ann.id, "gone.csv");
  const elsewhere = await file(b.id, ann.id, "elsewhere.csv");
  const other = await file(a.id, ann.id, "other.csv");
  const latest = await file(a.id, ann.id, "latest.csv");
  for (const f of [first, gone, elsewhere, latest]) await markFileStored(db, f.id, { size: 3, sha256: same });
  await markFileStored(db, other.id, { size: 3, sha256: "b".repeat(64) });
  await markFileDeleted(db, gone.id);
  const found = await duplicatesOf(db, { id: latest.id, cohortId: a.id, sha256: same });
  expect(found.map((d) => d.name)).toEqual(["first.csv"]);
  expect(await duplicatesOf(db, { id: latest.id, cohortId: a.id, sha256: null })).toEqual([]);
});

test("uploadersIn lists each uploader of the given cohorts once, by email", async () => {
  const [c, d] = [await createCohort(db, { name: "Up C" }), await createCohort(db, { name: "Up D" })];
  const zoe = await createUser(db, { email: "zoe@example.org", name: "Zoe", password: "zoe-password-1" });
  const max = await createUser(db, { email: "max@example.org", name: "Max", password: "max-password-1" });
  await file(c.id, zoe.id, "z1.csv");
  await file(c.id, zoe.id, "z2.csv");
  await file(d.id, max.id, "m1.csv");
  expect(await uploadersIn(db, [c.id])).toEqual([{ id: zoe.id, name: "Zoe", email: "zoe@example.org" }]);
  expect((await uploadersIn(db, [c.id, d.id])).map((u) => u.email)).toEqual(["max@example.org", "zoe@example.org"]);
  expect(await uploadersIn(db, [])).toEqual([]);
});
