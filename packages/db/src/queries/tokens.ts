import { and, desc, eq, isNull } from "drizzle-orm";
import type { Queryable } from "../client";
import { type AccessToken, accessTokens, cohorts, type TokenPermission, users } from "../schema";

export interface NewAccessToken {
  userId: string;
  name: string;
  tokenHash: string;
  tokenPrefix: string;
  cohortId: string | null;
  permission: TokenPermission;
  expiresAt: Date;
}

export async function createAccessToken(db: Queryable, input: NewAccessToken): Promise<AccessToken> {
  const [row] = await db.insert(accessTokens).values(input).returning();
  if (!row) throw new Error("access token insert returned no row");
  return row;
}

export async function findAccessTokenByHash(db: Queryable, tokenHash: string): Promise<AccessToken | undefined> {
  const [row] = await db.select().from(accessTokens).where(eq(accessTokens.tokenHash, tokenHash)).limit(1);
  return row;
}

export async function findAccessToken(db: Queryable, id: string): Promise<AccessToken | undefined> {
  const [row] = await db.select().from(accessTokens).where(eq(accessTokens.id, id)).limit(1);
  return row;
}

/** Tokens with their owner and cohort names, newest first: one person's, or everyone's (userId null). */
export async function listAccessTokens(db: Queryable, userId: string | null) {
  return db
    .select({
      token: accessTokens,
      ownerEmail: users.email,
      cohortName: cohorts.name,
    })
    .from(accessTokens)
    .innerJoin(users, eq(users.id, accessTokens.userId))
    .leftJoin(cohorts, eq(cohorts.id, accessTokens.cohortId))
    .where(userId ? eq(accessTokens.userId, userId) : undefined)
    .orderBy(desc(accessTokens.createdAt));
}

/** Marks the token revoked unless it already is; returns the row when this call revoked it. */
export async function revokeAccessToken(db: Queryable, id: string, revokedBy: string) {
  const [row] = await db
    .update(accessTokens)
    .set({ revokedAt: new Date(), revokedBy })
    .where(and(eq(accessTokens.id, id), isNull(accessTokens.revokedAt)))
    .returning();
  return row;
}

export async function touchAccessToken(db: Queryable, id: string) {
  await db.update(accessTokens).set({ lastUsedAt: new Date() }).where(eq(accessTokens.id, id));
}
