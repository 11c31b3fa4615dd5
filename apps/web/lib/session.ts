import { DepotError } from "@depot/contract";
import { findUserById, type User } from "@depot/db";
import { cookies } from "next/headers";
import { readSessionToken, type SessionClaims, sessionCookieName, sessionStands } from "./auth";
import { db } from "./db";
import { userFromBearerToken } from "./tokens";

export interface Session {
  user: User;
  claims: SessionClaims;
}

/**
 * The session cookie's person, read fresh from the database: null unless the token is valid and still stands
 * (active account, same session version, within the absolute lifetime; see sessionStands).
 */
export async function sessionFromCookie(): Promise<Session | null> {
  const claims = await readSessionToken((await cookies()).get(sessionCookieName())?.value);
  if (!claims) return null;
  const user = await findUserById(db(), claims.sub);
  return sessionStands(claims, user) ? { user, claims } : null;
}

/** The signed-in person on every request: a deactivated account or an ended session stops working at once. */
export async function currentUser(): Promise<User | null> {
  return (await sessionFromCookie())?.user ?? null;
}

/** For route handlers: the signed-in, active person (or the owner of a valid bearer token), or a 401. */
export async function requireUser(): Promise<User> {
  const tokenOwner = await userFromBearerToken();
  if (tokenOwner) return tokenOwner;
  const user = await currentUser();
  if (!user) throw new DepotError("unauthorized", "sign in first: no valid session");
  return user;
}
