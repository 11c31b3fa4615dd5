import { index, pgEnum, pgTable, text, timestamp, uniqueIndex, uuid } from "drizzle-orm/pg-core";
import { cohorts } from "./cohorts";
import { users } from "./users";

/**
 * What a personal access token may do, at most (and never more than its owner may do at the time):
 * read sees cohorts and file records, download also fetches bytes, upload also sends files.
 */
export const tokenPermission = pgEnum("token_permission", ["read", "download", "upload"]);

/**
 * Personal access tokens for scripts. Only the SHA-256 of the secret is kept (the secret is 256 random
 * bits, so a fast hash is enough and lets a request find its row by index); the prefix is for display.
 * A removed cohort removes the tokens scoped to it rather than widening them.
 */
export const accessTokens = pgTable(
  "access_tokens",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    userId: uuid("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    tokenHash: text("token_hash").notNull(),
    tokenPrefix: text("token_prefix").notNull(),
    cohortId: uuid("cohort_id").references(() => cohorts.id, { onDelete: "cascade" }),
    permission: tokenPermission("permission").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    expiresAt: timestamp("expires_at", { withTimezone: true }).notNull(),
    lastUsedAt: timestamp("last_used_at", { withTimezone: true }),
    revokedAt: timestamp("revoked_at", { withTimezone: true }),
    revokedBy: uuid("revoked_by").references(() => users.id, { onDelete: "set null" }),
  },
  (t) => [uniqueIndex("access_tokens_hash_key").on(t.tokenHash), index("access_tokens_user_idx").on(t.userId)],
);

export type AccessToken = typeof accessTokens.$inferSelect;
export type TokenPermission = (typeof tokenPermission.enumValues)[number];
