import { sql } from "drizzle-orm";
import type { RequestContext, StorageContext } from "../http/context";
import { sendJson } from "../http/respond";

/** A real write, read and delete on every disk, and a database round trip. */
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
  const ok = database && disks.every((d) => d.ok);
  const defaultDisk = disks.find((d) => d.name === ctx.env.defaultDisk);
  sendJson(res, ok ? 200 : 503, {
    status: ok ? "ok" : "degraded",
    serverRole: "services",
    driver: defaultDisk?.driver,
    defaultDisk: ctx.env.defaultDisk,
    database,
    disks,
  });
}
