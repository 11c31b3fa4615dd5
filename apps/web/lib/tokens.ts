import { createHash, randomBytes } from "node:crypto";
import { DepotError } from "@depot/contract";
import {
  type AccessToken,
  appendAudit,
  findAccessTokenByHash,
  findUserById,
  type TokenPermission,
  touchAccessToken,
  type User,
} from "@depot/db";
import { headers } from "next/headers";
import { db } from "./db";
import { CLIENT_IP_HEADER, REQUEST_ID_HEADER } from "./request";

/** Personal access tokens: `depot_pat_` and 43 characters of base64url (256 random bits). */
export const TOKEN_PREFIX = "depot_pat_";
const TOKEN_SHAPE = /^depot_pat_[A-Za-z0-9_-]{43}$/;
export const MAX_TOKEN_DAYS = 365;
export const TOKEN_PERMISSIONS: TokenPermission[] = ["read", "download", "upload"];

export const hashToken = (secret: string) => createHash("sha256").update(secret, "utf8").digest("hex");

/** A new secret, its hash for the database and a short prefix to recognise it by in lists. */
export function generateToken(): { secret: string; hash: string; prefix: string } {
  const secret = `${TOKEN_PREFIX}${randomBytes(32).toString("base64url")}`;
  return { secret, hash: hashToken(secret), prefix: secret.slice(0, TOKEN_PREFIX.length + 6) };
}

/** The token a request was made with, for users resolved from a bearer token (not for sessions). */
const viaToken = new WeakMap<User, AccessToken>();

export const tokenOf = (user: User | null | undefined): AccessToken | undefined =>
  user ? viaToken.get(user) : undefined;

/** What a token's permission covers; `delete` and administration are never done with a token. */
const COVERS: Record<TokenPermission, readonly string[]> = {
  read: ["read"],
  download: ["read", "download"],
  upload: ["read", "upload"],
};

/** Whether the token (if the user came with one) allows this action in this cohort; sessions are not limited here. */
export function tokenAllows(user: User, action: string, cohortId: string): boolean {
  const token = tokenOf(user);
  if (!token) return true;
  if (token.cohortId && token.cohortId !== cohortId) return false;
  return COVERS[token.permission].includes(action);
}

/** For routes a token may never reach (administration, token management): a 403 that says so. */
export function refuseToken(user: User, what: string): void {
  if (tokenOf(user)) {
    throw new DepotError("forbidden", `${what} needs a signed-in session; personal access tokens cannot be used here`);
  }
}

/** Audit metadata naming the token a request came with (merged into every web row of that request). */
export function tokenAuditFields(user: User | null | undefined): Record<string, string> {
  const token = tokenOf(user);
  return token ? { tokenId: token.id, tokenName: token.name } : {};
}

/**
 * The hook in requireUser: undefined when the request carries no Authorization header (the session
 * decides); the token's owner when a valid bearer token is sent; a 401 with the reason otherwise.
 * Every use and every refusal of a known token leaves an audit row under the request's id.
 */
export async function userFromBearerToken(): Promise<User | undefined> {
  const h = await headers();
  const authorization = h.get("authorization");
  if (authorization === null) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  if (!match?.[1]) throw new DepotError("unauthorized", "the Authorization header must be `Bearer <token>`");
  const secret = match[1];
  if (!TOKEN_SHAPE.test(secret)) throw new DepotError("unauthorized", "this is not a Depot personal access token");
  const token = await findAccessTokenByHash(db(), hashToken(secret));
  if (!token) throw new DepotError("unauthorized", "unknown personal access token");
  const audit = (action: string, outcome: "success" | "denied", error?: string) =>
    appendAudit(db(), {
      action,
      outcome,
      serverRole: "web",
      requestId: h.get(REQUEST_ID_HEADER),
      actor: { userId: token.userId, ip: h.get(CLIENT_IP_HEADER) ?? "unknown", userAgent: h.get("user-agent") },
      error,
      metadata: { tokenId: token.id, tokenName: token.name },
    });
  const refuse = async (reason: string, message: string): Promise<never> => {
    await audit("token_refused", "denied", reason).catch(() => {});
    throw new DepotError("unauthorized", message);
  };
  if (token.revokedAt) return refuse("revoked", `this personal access token ("${token.name}") was revoked`);
  if (token.expiresAt.getTime() <= Date.now()) {
    return refuse(
      "expired",
      `this personal access token ("${token.name}") expired on ${token.expiresAt.toISOString()}`,
    );
  }
  const user = await findUserById(db(), token.userId);
  if (!user?.isActive) return refuse("owner_inactive", "the owner of this personal access token is deactivated");
  await audit("token_used", "success");
  await touchAccessToken(db(), token.id);
  viaToken.set(user, token);
  return user;
}
