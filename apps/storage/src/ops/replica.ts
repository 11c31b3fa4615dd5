import { hostname } from "node:os";
import { type Database, releaseVersion, startHeartbeat } from "@depot/db";
import type { Disks } from "../drivers";
import type { StorageEnv } from "../env";
import { log } from "../log";

/**
 * This process's name among the storage replicas: REPLICA_ID, else `${hostname}:${port}`, which stays the same
 * across restarts (a restarted replica takes over its own row) and tells apart two replicas on one machine (they
 * cannot listen on one port).
 */
export function replicaId(env: StorageEnv, port: number): string {
  return env.replicaId ?? `${hostname()}:${port}`;
}

/** Starts this replica's heartbeat in service_replicas; the function it returns stops it and removes the row. */
export function startReplicaHeartbeat(
  ctx: { db: Database; disks: Disks; env: StorageEnv },
  at: { id: string; port: number },
): () => Promise<void> {
  const host = ctx.env.host;
  return startHeartbeat(
    ctx.db,
    {
      id: at.id,
      role: "services",
      host,
      port: at.port,
      url: `http://${host.includes(":") ? `[${host}]` : host}:${at.port}`,
      pid: process.pid,
      version: releaseVersion(),
      defaultDisk: ctx.env.defaultDisk,
      driver: ctx.disks.get(ctx.env.defaultDisk).driver.kind,
      heartbeatIntervalMs: ctx.env.heartbeatIntervalMs,
      startedAt: new Date(),
    },
    { onError: (error) => log("warn", "heartbeat not written", { error: (error as Error).name }) },
  );
}
