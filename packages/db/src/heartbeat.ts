import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { Queryable } from "./client";
import { pruneReplicas, type ReplicaHeartbeat, recordHeartbeat, removeReplica } from "./queries/replicas";

/** Rows of replicas silent this long are removed by the live ones: a dead replica shows as stale for a day. */
const PRUNE_AFTER_MS = 24 * 3600_000;

/**
 * Writes `replica`'s heartbeat row now and every `heartbeatIntervalMs`, and prunes rows of replicas gone for a
 * day. A failed beat (the database away for a moment) is reported to `onError` and the next one tries again.
 * Returns stop(): ends the beats and removes the row, so a clean shutdown does not leave a stale replica behind.
 */
export function startHeartbeat(
  db: Queryable,
  replica: ReplicaHeartbeat,
  options: { onError?: (error: unknown) => void } = {},
): () => Promise<void> {
  let stopped = false;
  let beating: Promise<void> = Promise.resolve();
  const beat = () => {
    beating = recordHeartbeat(db, replica)
      .then(() => pruneReplicas(db, PRUNE_AFTER_MS))
      .then(
        () => {},
        (error: unknown) => options.onError?.(error),
      );
  };
  beat();
  const timer = setInterval(() => {
    if (!stopped) beat();
  }, replica.heartbeatIntervalMs);
  timer.unref();
  return async () => {
    stopped = true;
    clearInterval(timer);
    // A beat still in flight would write the row again after it was removed.
    await beating;
    await removeReplica(db, replica.id).catch((error: unknown) => options.onError?.(error));
  };
}

let version: string | undefined;

/**
 * What a heartbeat reports as the replica's version: the release's git tag or commit (a release folder is a clone
 * of its tag, docs/deployment.md), "unknown" outside a git checkout. Read once per process.
 */
export function releaseVersion(): string {
  if (version !== undefined) return version;
  try {
    version = execFileSync("git", ["describe", "--tags", "--always", "--dirty"], {
      cwd: fileURLToPath(new URL(".", import.meta.url)),
      timeout: 2_000,
      stdio: ["ignore", "pipe", "ignore"],
      encoding: "utf8",
    }).trim();
  } catch {}
  version ||= "unknown";
  return version;
}
