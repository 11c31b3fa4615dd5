import { createDb, createUser, ensureCohort, setMembership } from "@depot/db";

export { ADMIN } from "../scripts/stack";

export const PASSWORD = "e2e-password-123";
export const PEOPLE = {
  manager: { email: "manager@example.org", password: PASSWORD },
  otherManager: { email: "manager2@example.org", password: PASSWORD },
  viewer: { email: "viewer@example.org", password: PASSWORD },
  outsider: { email: "outsider@example.org", password: PASSWORD },
};
export const COHORT_A = "Demo Cohort A";
export const COHORT_B = "Demo Cohort B";

/** Managers and a viewer of cohort A, and an outsider who manages only cohort B. */
export async function createPeople(databaseUrl: string) {
  const { db, close } = createDb(databaseUrl, { max: 1 });
  try {
    const a = (await ensureCohort(db, { name: COHORT_A })).cohort;
    const b = (await ensureCohort(db, { name: COHORT_B })).cohort;
    const make = async (email: string, name: string, cohortId: string, role: "manager" | "viewer") => {
      const user = await createUser(db, { email, name, password: PASSWORD });
      await setMembership(db, { userId: user.id, cohortId, role });
    };
    await make(PEOPLE.manager.email, "Maria Manager", a.id, "manager");
    await make(PEOPLE.otherManager.email, "Mo Manager", a.id, "manager");
    await make(PEOPLE.viewer.email, "Vic Viewer", a.id, "viewer");
    await make(PEOPLE.outsider.email, "Olga Outsider", b.id, "manager");
  } finally {
    await close();
  }
}
