import { and, eq } from "drizzle-orm";
import type { Queryable } from "../client";
import { cohortMemberships, cohorts, type MembershipRole } from "../schema";
import { endSessionsOf } from "./users";

/** Creates the cohort unless one of that name exists; returns whether it was created. */
export async function ensureCohort(db: Queryable, input: { name: string; description?: string }) {
  const inserted = await db
    .insert(cohorts)
    .values({ name: input.name, description: input.description ?? "" })
    .onConflictDoNothing({ target: cohorts.name })
    .returning();
  if (inserted[0]) return { cohort: inserted[0], created: true };
  const [existing] = await db.select().from(cohorts).where(eq(cohorts.name, input.name));
  if (!existing) throw new Error(`cohort ${input.name} vanished`);
  return { cohort: existing, created: false };
}

/** Adds or changes a membership; changing an existing role ends the user's earlier sessions. */
export async function setMembership(db: Queryable, input: { userId: string; cohortId: string; role: MembershipRole }) {
  const previous = await roleInCohort(db, input.userId, input.cohortId);
  if (previous && previous !== input.role) await endSessionsOf(db, input.userId);
  await db
    .insert(cohortMemberships)
    .values(input)
    .onConflictDoUpdate({ target: [cohortMemberships.userId, cohortMemberships.cohortId], set: { role: input.role } });
}

/** Removes a membership and ends the user's earlier sessions. */
export async function removeMembership(db: Queryable, input: { userId: string; cohortId: string }) {
  const removed = await db
    .delete(cohortMemberships)
    .where(and(eq(cohortMemberships.userId, input.userId), eq(cohortMemberships.cohortId, input.cohortId)))
    .returning({ userId: cohortMemberships.userId });
  if (removed.length > 0) await endSessionsOf(db, input.userId);
}

export async function listCohorts(db: Queryable) {
  return db.select().from(cohorts).orderBy(cohorts.name);
}

export async function membershipsOf(db: Queryable, userId: string) {
  return db
    .select({ cohortId: cohortMemberships.cohortId, role: cohortMemberships.role, name: cohorts.name })
    .from(cohortMemberships)
    .innerJoin(cohorts, eq(cohorts.id, cohortMemberships.cohortId))
    .where(eq(cohortMemberships.userId, userId))
    .orderBy(cohorts.name);
}

export async function roleInCohort(db: Queryable, userId: string, cohortId: string): Promise<MembershipRole | null> {
  const [row] = await db
    .select({ role: cohortMemberships.role })
    .from(cohortMemberships)
    .where(and(eq(cohortMemberships.userId, userId), eq(cohortMemberships.cohortId, cohortId)))
    .limit(1);
  return row?.role ?? null;
}

export async function findCohort(db: Queryable, id: string) {
  const [row] = await db.select().from(cohorts).where(eq(cohorts.id, id)).limit(1);
  return row;
}
