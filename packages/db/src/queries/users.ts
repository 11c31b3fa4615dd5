import { and, count, eq, gte, sql } from "drizzle-orm";
import type { Queryable } from "../client";
import { hashPassword } from "../passwords";
import { loginAttempts, type User, users } from "../schema";

export const normalizeEmail = (email: string) => email.trim().toLowerCase();

export async function findUserByEmail(db: Queryable, email: string): Promise<User | undefined> {
  const [user] = await db
    .select()
    .from(users)
    .where(sql`lower(${users.email}) = ${normalizeEmail(email)}`)
    .limit(1);
  return user;
}

export async function findUserById(db: Queryable, id: string): Promise<User | undefined> {
  const [user] = await db.select().from(users).where(eq(users.id, id)).limit(1);
  return user;
}

export interface NewUser {
  email: string;
  name: string;
  password: string;
  isSuperuser?: boolean;
  role?: "administrator" | "member";
}

export async function createUser(db: Queryable, input: NewUser): Promise<User> {
  const [user] = await db
    .insert(users)
    .values({
      email: normalizeEmail(input.email),
      name: input.name,
      passwordHash: await hashPassword(input.password),
      isSuperuser: input.isSuperuser ?? false,
      role: input.role ?? "member",
    })
    .returning();
  if (!user) throw new Error("user insert returned no row");
  return user;
}

export async function countUsers(db: Queryable): Promise<number> {
  const [row] = await db.select({ n: count() }).from(users);
  return row?.n ?? 0;
}

export async function recordLoginAttempt(db: Queryable, attempt: { email: string; ip: string; succeeded: boolean }) {
  await db.insert(loginAttempts).values({ ...attempt, email: normalizeEmail(attempt.email) });
  if (attempt.succeeded) {
    await db
      .update(users)
      .set({ lastLoginAt: new Date() })
      .where(sql`lower(${users.email}) = ${normalizeEmail(attempt.email)}`);
  }
}

/** Failed attempts since `since`, for one account and for one address. */
export async function countRecentFailedLogins(db: Queryable, input: { email: string; ip: string; since: Date }) {
  const failed = (column: typeof loginAttempts.email | typeof loginAttempts.ip, value: string) =>
    db
      .select({ n: count() })
      .from(loginAttempts)
      .where(and(eq(column, value), eq(loginAttempts.succeeded, false), gte(loginAttempts.attemptedAt, input.since)));
  const [[byEmail], [byIp]] = await Promise.all([
    failed(loginAttempts.email, normalizeEmail(input.email)),
    failed(loginAttempts.ip, input.ip),
  ]);
  return { byEmail: byEmail?.n ?? 0, byIp: byIp?.n ?? 0 };
}
