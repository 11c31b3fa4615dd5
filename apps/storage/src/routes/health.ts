import { listReplicas, type ReplicaStatus } from "@depot/db";
import { sql } from "drizzle-orm";
import type { RequestContext, StorageContext } from "../http/context";
import { sendJson } from "../http/respond";

/**
 * A real write, read and delete on every disk, and a database round trip; and every storage replica's heartbeat
 * from the database (this answer comes from one replica, the list covers them all).
 */
export async function health(ctx: StorageContext, { res }: RequestContext): Promise<void> {
  const disks = await Promise.all(
    ctx.disks.names().map(async (name) => {
      const { driver } = ctx.disks.get(name);
      const started = performance.now();
      try {
        await driver.probe();
        return { name, driver: driver.kind, ok: true, ms: Math.round(performance.now() - started) };
      } catch {
        return { name, driver: driver.kind, ok: false, ms: Math.round(performance.now() - started) };
      }
    }),
  );
  const database = await ctx.db
    .execute(sql`select 1`)
    .then(() => true)
    .catch(() => false);
  // A stale replica is reported, not a reason for this one to answer 503: the load balancer asks each for itself.
  const replicas: ReplicaStatus[] = database ? await listReplicas(ctx.db, { role: "services" }).catch(() => []) : [];
  const ok = database && disks.every((d) => d.ok);
  const defaultDisk = disks.find((d) => d.name === ctx.env.defaultDisk);
  sendJson(res, ok ? 200 : 503, {
    status: ok ? "ok" : "degraded",
    serverRole: "services",
    driver: defaultDisk?.driver,
    defaultDisk: ctx.env.defaultDisk,
    database,
    disks,
    replicas,
  });
}
