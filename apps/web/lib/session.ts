import { DepotError } from "@depot/contract";
import { findUserById, type User } from "@depot/db";
import { getServerSession } from "next-auth";
import { authOptions } from "./auth";
import { db } from "./db";
import { userFromBearerToken } from "./tokens";

/**
 * The signed-in person, read fresh from the database on every request: a deactivated account
 * stops working at once, whatever its token says.
 */
export async function currentUser(): Promise<User | null> {
  const session = await getServerSession(authOptions());
  const id = (session?.user as { id?: string } | undefined)?.id;
  if (!id) return null;
  const user = await findUserById(db(), id);
  return user?.isActive ? user : null;
}

/** For route handlers: the signed-in, active person (or the owner of a valid bearer token), or a 401. */
export async function requireUser(): Promise<User> {
  const tokenOwner = await userFromBearerToken();
  if (tokenOwner) return tokenOwner;
  const user = await currentUser();
  if (!user) throw new DepotError("unauthorized", "sign in first: no valid session");
  return user;
}
