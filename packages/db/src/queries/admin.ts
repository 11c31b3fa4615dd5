import { asc, eq, sql } from "drizzle-orm";
import type { Queryable } from "../client";
import { hashPassword } from "../passwords";
import { type Cohort, cohortMemberships, cohorts, files, type MembershipRole, type User, users } from "../schema";
import { createUser, endSessions, findUserByEmail, type NewUser, normalizeEmail } from "./users";

export type UserRole = User["role"];

/** A user as the administration pages see it: never the password hash. */
export interface AdminUser {
  id: string;
  email: string;
  name: string;
  role: UserRole;
  isSuperuser: boolean;
  isActive: boolean;
  createdAt: Date;
  lastLoginAt: Date | null;
  memberships: { cohortId: string; cohortName: string; role: MembershipRole }[];
}

/** Thrown when a name or email that must be unique is already taken. */
export class DuplicateError extends Error {
  constructor(
    readonly what: "user" | "cohort",
    message: string,
  ) {
    super(message);
    this.name = "DuplicateError";
  }
}

/** PostgreSQL unique_violation (23505), whether raw from postgres.js or wrapped by Drizzle. */
export function isUniqueViolation(error: unknown): boolean {
  for (let e = error as { code?: unknown; cause?: unknown } | null | undefined, depth = 0; e && depth < 5; depth++) {
    if (e.code === "23505") return true;
    e = e.cause as typeof e;
  }
  return false;
}

const publicUserColumns = {
  id: users.id,
  email: users.email,
  name: users.name,
  role: users.role,
  isSuperuser: users.isSuperuser,
  isActive: users.isActive,
  createdAt: users.createdAt,
  lastLoginAt: users.lastLoginAt,
};

/** Every user, by email, each with their cohort memberships (by cohort name). */
export async function listUsers(db: Queryable): Promise<AdminUser[]> {
  const [rows, memberships] = await Promise.all([
    db.select(publicUserColumns).from(users).orderBy(asc(users.email)),
    db
      .select({
        userId: cohortMemberships.userId,
        cohortId: cohortMemberships.cohortId,
        cohortName: cohorts.name,
        role: cohortMemberships.role,
      })
      .from(cohortMemberships)
      .innerJoin(cohorts, eq(cohorts.id, cohortMemberships.cohortId))
      .orderBy(asc(cohorts.name)),
  ]);
  const byUser = new Map<string, AdminUser["memberships"]>();
  for (const { userId, ...m } of memberships) {
    const list = byUser.get(userId) ?? [];
    list.push(m);
    byUser.set(userId, list);
  }
  return rows.map((u) => ({ ...u, memberships: byUser.get(u.id) ?? [] }));
}

/** Creates a user (argon2id via createUser); a taken email, in any letter case, throws DuplicateError. */
export async function createUserAccount(db: Queryable, input: NewUser): Promise<User> {
  const taken = () => new DuplicateError("user", `a user with email ${normalizeEmail(input.email)} already exists`);
  if (await findUserByEmail(db, input.email)) throw taken();
  try {
    return await createUser(db, input);
  } catch (error) {
    // Two administrators creating the same person at once: the unique index decides.
    if (isUniqueViolation(error)) throw taken();
    throw error;
  }
}

/** Activates or deactivates a user; returns the updated user, or undefined when there is no such user. */
export async function setUserActive(db: Queryable, id: string, active: boolean): Promise<User | undefined> {
  const [row] = await db
    .update(users)
    .set({ isActive: active, sessionVersion: endSessions })
    .where(eq(users.id, id))
    .returning();
  return row;
}

/** Replaces a user's password with a new argon2id hash; false when there is no such user. */
export async function resetPassword(db: Queryable, id: string, newPassword: string): Promise<boolean> {
  const passwordHash = await hashPassword(newPassword);
  const rows = await db
    .update(users)
    .set({ passwordHash, sessionVersion: endSessions })
    .where(eq(users.id, id))
    .returning({ id: users.id });
  return rows.length === 1;
}

export async function updateUserRole(db: Queryable, id: string, role: UserRole): Promise<User | undefined> {
  const [row] = await db.update(users).set({ role, sessionVersion: endSessions }).where(eq(users.id, id)).returning();
  return row;
}

/**
 * Creates a cohort. Names are unique; a name that differs from an existing one only in letter case or
 * surrounding spaces is refused too, so two cohorts never look the same in a list. Throws DuplicateError.
 */
export async function createCohort(db: Queryable, input: { name: string; description?: string }): Promise<Cohort> {
  const name = input.name.trim();
  const taken = () => new DuplicateError("cohort", `a cohort named "${name}" already exists`);
  const [existing] = await db
    .select({ id: cohorts.id })
    .from(cohorts)
    .where(sql`lower(${cohorts.name}) = lower(${name})`)
    .limit(1);
  if (existing) throw taken();
  const [row] = await db
    .insert(cohorts)
    .values({ name, description: input.description?.trim() ?? "" })
    .onConflictDoNothing({ target: cohorts.name })
    .returning();
  if (!row) throw taken();
  return row;
}

export interface CohortWithCounts extends Cohort {
  /** People with a membership (manager or viewer). */
  members: number;
  /** Files in the stored state. */
  files: number;
  /** Sum of the sizes of the stored files. */
  bytes: number;
}

/** Every cohort, by name, with its member count and the number and total size of its stored files. */
export async function listCohortsWithCounts(db: Queryable): Promise<CohortWithCounts[]> {
  // Separate aggregates, joined once each, so members never multiply files (or the other way round).
  const memberCounts = db
    .select({ cohortId: cohortMemberships.cohortId, n: sql<number>`count(*)::int`.as("members_n") })
    .from(cohortMemberships)
    .groupBy(cohortMemberships.cohortId)
    .as("member_counts");
  const fileCounts = db
    .select({
      cohortId: files.cohortId,
      n: sql<number>`count(*)::int`.as("files_n"),
      bytes: sql<string>`coalesce(sum(${files.size}), 0)::bigint`.as("files_bytes"),
    })
    .from(files)
    .where(eq(files.status, "stored"))
    .groupBy(files.cohortId)
    .as("file_counts");
  const rows = await db
    .select({
      cohort: cohorts,
      members: memberCounts.n,
      files: fileCounts.n,
      bytes: fileCounts.bytes,
    })
    .from(cohorts)
    .leftJoin(memberCounts, eq(memberCounts.cohortId, cohorts.id))
    .leftJoin(fileCounts, eq(fileCounts.cohortId, cohorts.id))
    .orderBy(asc(cohorts.name));
  return rows.map((r) => ({
    ...r.cohort,
    members: r.members ?? 0,
    files: r.files ?? 0,
    bytes: Number(r.bytes ?? 0),
  }));
}
