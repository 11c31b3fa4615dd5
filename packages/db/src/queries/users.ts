import { and, count, eq, gte, type SQL, sql } from "drizzle-orm";
import type { Database, Queryable } from "../client";
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

/** For `.set({ sessionVersion: endSessions })`: every session issued before this change stops working. */
export const endSessions: SQL = sql`${users.sessionVersion} + 1`;

/** Ends every session a user has (sign-out, or a change that must sign them out); false when there is no such user. */
export async function endSessionsOf(db: Queryable, userId: string): Promise<boolean> {
  const rows = await db
    .update(users)
    .set({ sessionVersion: endSessions })
    .where(eq(users.id, userId))
    .returning({ id: users.id });
  return rows.length === 1;
}

export interface LoginLimits {
  /** Failed attempts per account in the window before that account is refused. */
  perAccount: number;
  /** Failed attempts per address in the window before that address is refused. */
  perAddress: number;
  windowMs: number;
}

export type LoginReservation =
  | { allowed: true; attemptId: number }
  | { allowed: false; limited: "account" | "address"; retryAfterSeconds: number };

/** Two advisory-lock keyspaces of ours (the two-int form never meets the audit writer's one-bigint lock). */
const LOCK_ACCOUNT = 0x4c47_4e41; // "LGNA"
const LOCK_ADDRESS = 0x4c47_4e49; // "LGNI"

/**
 * Takes one sign-in attempt from the budget of an account and of an address, atomically across requests and
 * web replicas: under transaction-scoped advisory locks on the account and the address (always in that order,
 * so two attempts never wait on each other in a cycle) it counts the failures in the window and, when both are
 * under their limit, records this attempt as a failure before the password is checked. A concurrent attempt
 * therefore already counts it; `confirmLoginAttempt` turns it into a success. The password check itself runs
 * outside the locks.
 */
export async function reserveLoginAttempt(
  db: Database,
  input: { email: string; ip: string },
  limits: LoginLimits,
): Promise<LoginReservation> {
  const email = normalizeEmail(input.email);
  return db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(${LOCK_ACCOUNT}::int, hashtext(${email}))`);
    await tx.execute(sql`select pg_advisory_xact_lock(${LOCK_ADDRESS}::int, hashtext(${input.ip}))`);
    const since = new Date(Date.now() - limits.windowMs);
    const failed = async (column: typeof loginAttempts.email | typeof loginAttempts.ip, value: string) => {
      const [row] = await tx
        .select({ n: count() })
        .from(loginAttempts)
        .where(and(eq(column, value), eq(loginAttempts.succeeded, false), gte(loginAttempts.attemptedAt, since)));
      return row?.n ?? 0;
    };
    const retryAfterSeconds = Math.ceil(limits.windowMs / 1000);
    if ((await failed(loginAttempts.email, email)) >= limits.perAccount) {
      return { allowed: false, limited: "account", retryAfterSeconds } as const;
    }
    if ((await failed(loginAttempts.ip, input.ip)) >= limits.perAddress) {
      return { allowed: false, limited: "address", retryAfterSeconds } as const;
    }
    const [row] = await tx
      .insert(loginAttempts)
      .values({ email, ip: input.ip, succeeded: false })
      .returning({ id: loginAttempts.id });
    if (!row) throw new Error("login attempt insert returned no row");
    return { allowed: true, attemptId: row.id } as const;
  });
}

/** The reserved attempt succeeded: it no longer counts against the limits, and the user's last sign-in is now. */
export async function confirmLoginAttempt(db: Queryable, attemptId: number, userId: string) {
  await db.update(loginAttempts).set({ succeeded: true }).where(eq(loginAttempts.id, attemptId));
  await db.update(users).set({ lastLoginAt: new Date() }).where(eq(users.id, userId));
}
