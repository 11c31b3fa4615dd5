import type { User } from "@depot/db";
import { decode, encode } from "next-auth/jwt";
import { getEnv } from "./env";

/**
 * The session token: an encrypted JWT in next-auth's format and cookie (next-auth/jwt does the crypto; its HTTP
 * routes are not mounted, so /api/session is the one way in and out). Claims: `sub` the user id, `ver` the user's
 * session version when it was issued, `authTime` the sign-in it descends from (seconds), `exp` its idle end.
 */
export interface SessionClaims {
  sub: string;
  ver: number;
  authTime: number;
}

export function sessionCookieName() {
  return getEnv().publicUrl.startsWith("https://") ? "__Secure-next-auth.session-token" : "next-auth.session-token";
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

/** The token's claims when it is ours, untampered and not past its idle end; null otherwise. */
export async function readSessionToken(token: string | undefined): Promise<SessionClaims | null> {
  if (!token || token.length > 8192) return null;
  const claims = await decode({ token, secret: getEnv().authSecret }).catch(() => null);
  if (!claims) return null;
  const { sub, ver, authTime } = claims as Record<string, unknown>;
  if (typeof sub !== "string" || typeof ver !== "number" || typeof authTime !== "number") return null;
  return { sub, ver, authTime };
}

/**
 * Whether a decoded session still stands for this user now: the account is active, nothing has ended its
 * sessions since (password change or reset, deactivation, a role or membership change, sign-out) and the
 * absolute lifetime since sign-in has not run out.
 */
export function sessionStands(claims: SessionClaims, user: User | undefined): user is User {
  return (
    !!user &&
    user.isActive &&
    user.id === claims.sub &&
    user.sessionVersion === claims.ver &&
    nowSeconds() - claims.authTime < getEnv().sessionMaxMs / 1000
  );
}

/**
 * A Set-Cookie value carrying a fresh token for `user`: idle end SESSION_IDLE_MINUTES from now, but never past
 * the absolute end SESSION_MAX_HOURS after `authTime` (a new sign-in when not given).
 */
export async function sessionCookie(user: User, authTime = nowSeconds()): Promise<string> {
  const env = getEnv();
  const left = Math.floor(authTime + env.sessionMaxMs / 1000 - nowSeconds());
  const maxAge = Math.max(0, Math.min(env.sessionIdleMinutes * 60, left));
  const token = await encode({
    token: { sub: user.id, email: user.email, name: user.name, ver: user.sessionVersion, authTime },
    secret: env.authSecret,
    maxAge,
  });
  return cookieHeader(token, maxAge);
}

/** A Set-Cookie value that removes the session cookie. */
export const clearedSessionCookie = () => cookieHeader("", 0);

function cookieHeader(value: string, maxAge: number) {
  const secure = getEnv().publicUrl.startsWith("https://") ? "; Secure" : "";
  return `${sessionCookieName()}=${value}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${maxAge}${secure}`;
}
