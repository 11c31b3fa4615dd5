export { appendAudit, type AuditActor, type AuditEntry } from "./audit/writer";
export { type ChainVerification, verifyAuditChain } from "./audit/verify";
export { createDb, type Database, type Queryable } from "./client";
export { runMigrations } from "./migrate";
export { hashPassword, verifyPassword } from "./passwords";
export * from "./queries/cohorts";
export * from "./queries/users";
export * from "./schema";
export { DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD, SeedRefusedError, seed } from "./seed";
