/** Headers of the private network between the web tier and the storage service (both directions). */
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
  /** Storage's answers: the stored object's sha256 and size (a download, a finished tus upload). */
  sha256: "x-depot-sha256",
  size: "x-depot-size",
} as const;
