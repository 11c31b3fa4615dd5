import { type Database, listReplicas, type ReplicaStatus } from "@depot/db";
import { sql } from "drizzle-orm";

export interface WebHealth {
  status: "ok" | "degraded";
  serverRole: "web";
  database: boolean;
  /** Every storage replica and web server with a heartbeat row, alive or stale (see @depot/db's listReplicas). */
  replicas: ReplicaStatus[];
  /** How many storage replicas are alive: 0 means no upload or download can succeed. */
  storageReplicasAlive: number;
}

/**
 * The web server's own health (its database) and every replica's heartbeat, read from the database rather than
 * from the one storage replica a request to SERVICES_URL would reach. Stale replicas are reported, not a reason
 * to answer degraded: a load balancer asks each process about itself.
 */
export async function webHealth(database: Database): Promise<WebHealth> {
  const reachable = await database
    .execute(sql`select 1`)
    .then(() => true)
    .catch(() => false);
  const replicas = reachable ? await listReplicas(database).catch(() => []) : [];
  return {
    status: reachable ? "ok" : "degraded",
    serverRole: "web",
    database: reachable,
    replicas,
    storageReplicasAlive: replicas.filter((r) => r.role === "services" && r.alive).length,
  };
}

/** "4 s", "3 min", "2 h", "5 d": how long ago a heartbeat was, for the dashboard. */
export function formatAge(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.floor(s / 60)} min`;
  if (s < 172_800) return `${Math.floor(s / 3600)} h`;
  return `${Math.floor(s / 86_400)} d`;
}
