import {
  appendAudit,
  countRecentFailedLogins,
  type Database,
  findUserByEmail,
  recordLoginAttempt,
  type User,
  verifyPassword,
} from "@depot/db";

export const MAX_FAILED_LOGINS_PER_MINUTE = 5;

export type CredentialCheck =
  | { ok: true; user: User }
  | { ok: false; reason: "invalid" | "inactive" | "rate_limited"; message: string };

const MESSAGES = {
  invalid: "Incorrect email or password.",
  inactive: "This account is deactivated. Ask an administrator to reactivate it.",
  rate_limited: "Too many failed sign-in attempts. Wait a minute and try again.",
} as const;

/**
 * Checks an email and password. Failed attempts are counted per account and per address, and more
 * than MAX_FAILED_LOGINS_PER_MINUTE in a minute refuses further tries for that minute.
 */
export async function checkCredentials(
  db: Database,
  input: { email: string; password: string; ip: string; userAgent?: string | null; requestId?: string },
): Promise<CredentialCheck> {
  const since = new Date(Date.now() - 60_000);
  const recent = await countRecentFailedLogins(db, { email: input.email, ip: input.ip, since });
  let result: CredentialCheck;
  if (recent.byEmail >= MAX_FAILED_LOGINS_PER_MINUTE || recent.byIp >= MAX_FAILED_LOGINS_PER_MINUTE) {
    result = { ok: false, reason: "rate_limited", message: MESSAGES.rate_limited };
  } else {
    const user = await findUserByEmail(db, input.email);
    // Verify against a hash even for unknown emails would cost time; unknown and wrong look the same to the person.
    const passwordOk = user ? await verifyPassword(user.passwordHash, input.password) : false;
    if (!user || !passwordOk) result = { ok: false, reason: "invalid", message: MESSAGES.invalid };
    else if (!user.isActive) result = { ok: false, reason: "inactive", message: MESSAGES.inactive };
    else result = { ok: true, user };
  }
  if (result.ok || result.reason !== "rate_limited") {
    await recordLoginAttempt(db, { email: input.email, ip: input.ip, succeeded: result.ok });
  }
  if (!result.ok) {
    await appendAudit(db, {
      action: "login_failed",
      outcome: result.reason === "invalid" ? "failure" : "denied",
      serverRole: "web",
      requestId: input.requestId,
      actor: { ip: input.ip, userAgent: input.userAgent },
      error: result.reason,
      metadata: { email: input.email.trim().toLowerCase().slice(0, 200) },
    });
  }
  return result;
}
