export { appendAuditBatch, type BulkAuditRow } from "./audit/bulk";
export {
  checkpointKey,
  checkpointKeyFromEnv,
  checkpointTrusted,
  type IncrementalVerification,
  latestAuditCheckpoint,
  verifySinceCheckpoint,
} from "./audit/checkpoint";
export {
  type ChainAnchor,
  type ChainProblem,
  type ChainVerification,
  formatAnchor,
  parseAnchor,
  verifyAuditChain,
} from "./audit/verify";
export { type AuditActor, type AuditEntry, appendAudit } from "./audit/writer";
export { createDb, type Database, type Queryable } from "./client";
export { releaseVersion, startHeartbeat } from "./heartbeat";
export { hashPassword, verifyPassword } from "./passwords";
export * from "./queries/admin";
export * from "./queries/audit";
export * from "./queries/cohorts";
export * from "./queries/files";
export * from "./queries/maintenance";
export * from "./queries/replicas";
export * from "./queries/tokens";
export * from "./queries/uploads";
export * from "./queries/users";
export * from "./schema";
export { DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD, SeedRefusedError, seed } from "./seed";
