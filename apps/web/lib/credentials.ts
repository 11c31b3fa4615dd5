import {
  appendAudit,
  confirmLoginAttempt,
  type Database,
  findUserByEmail,
  type LoginLimits,
  reserveLoginAttempt,
  type User,
  verifyPassword,
} from "@depot/db";

/**
 * Failed sign-ins allowed in a minute: per account, so guessing one person's password stops after a few tries;
 * per address, much higher, so one person's typos behind a shared NAT or proxy do not lock out everyone else
 * there, while one address still cannot spray passwords over many accounts.
 */
export const LOGIN_LIMITS: LoginLimits = { perAccount: 5, perAddress: 30, windowMs: 60_000 };

export type CredentialCheck =
  | { ok: true; user: User }
  | { ok: false; reason: "invalid" | "inactive" | "rate_limited"; message: string; retryAfterSeconds?: number };

const MESSAGES = {
  invalid: "Incorrect email or password.",
  inactive: "This account is deactivated. Ask an administrator to reactivate it.",
  rate_limited: "Too many failed sign-in attempts. Wait a minute and try again.",
} as const;

/**
 * Checks an email and password, the one way anyone signs in. Each attempt first takes its place in the
 * per-account and per-address budgets (atomically in PostgreSQL, see reserveLoginAttempt), so concurrent wrong
 * passwords cannot exceed LOGIN_LIMITS; only a reserved attempt is checked against the password.
 */
export async function checkCredentials(
  db: Database,
  input: { email: string; password: string; ip: string; userAgent?: string | null; requestId?: string },
  limits: LoginLimits = LOGIN_LIMITS,
): Promise<CredentialCheck> {
  const reservation = await reserveLoginAttempt(db, { email: input.email, ip: input.ip }, limits);
  let result: CredentialCheck;
  if (!reservation.allowed) {
    result = {
      ok: false,
      reason: "rate_limited",
      message: MESSAGES.rate_limited,
      retryAfterSeconds: reservation.retryAfterSeconds,
    };
  } else {
    const user = await findUserByEmail(db, input.email);
    // Verify against a hash even for unknown emails would cost time; unknown and wrong look the same to the person.
    const passwordOk = user ? await verifyPassword(user.passwordHash, input.password) : false;
    if (!user || !passwordOk) result = { ok: false, reason: "invalid", message: MESSAGES.invalid };
    else if (!user.isActive) result = { ok: false, reason: "inactive", message: MESSAGES.inactive };
    else {
      result = { ok: true, user };
      await confirmLoginAttempt(db, reservation.attemptId, user.id);
    }
  }
  if (!result.ok) {
    await appendAudit(db, {
      action: "login_failed",
      outcome: result.reason === "invalid" ? "failure" : "denied",
      serverRole: "web",
      requestId: input.requestId,
      actor: { ip: input.ip, userAgent: input.userAgent },
      error: result.reason,
      metadata: {
        email: input.email.trim().toLowerCase().slice(0, 200),
        ...(reservation.allowed ? {} : { limited: reservation.limited }),
      },
    });
  }
  return result;
}
