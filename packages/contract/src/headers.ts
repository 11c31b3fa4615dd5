/** Headers the web tier sends to the storage service on the private network. */
export const HEADER = {
  apiKey: "x-api-key",
  requestId: "x-request-id",
  actorUserId: "x-depot-actor-user-id",
  actorIp: "x-depot-actor-ip",
  actorUserAgent: "x-depot-actor-user-agent",
  cohortId: "x-depot-cohort-id",
  fileId: "x-depot-file-id",
  expectedSha256: "x-depot-expected-sha256",
  expectedSize: "x-depot-expected-size",
} as const;
