import { integer, pgTable, text, timestamp } from "drizzle-orm/pg-core";
import { serverRole } from "./audit";

/**
 * The last run of each scheduled job (cleanup, audit verification, integrity), across every storage replica. A
 * replica runs a job only after claiming it here with one atomic statement that succeeds only when the last run
 * started at least an interval ago (see claimScheduledRun), so a job runs once per interval however many replicas
 * there are, and a replica that died mid-run holds the job for one interval only.
 */
export const scheduledJobRuns = pgTable("scheduled_job_runs", {
  job: text("job").primaryKey(),
  lastStartedAt: timestamp("last_started_at", { withTimezone: true, precision: 3 }).notNull(),
  /** Null while the run is under way, or forever when its replica died during it. */
  lastFinishedAt: timestamp("last_finished_at", { withTimezone: true, precision: 3 }),
  /** The replica id (see serviceReplicas.id) that claimed the last run. */
  lastReplica: text("last_replica").notNull(),
  lastOutcome: text("last_outcome"),
});

/**
 * One row per running process of a tier (storage replicas, web servers), refreshed by its heartbeat and removed
 * when it shuts down cleanly. A row whose heartbeat stopped (the process died) stays, so the dashboard can name it
 * as stale, until a live replica prunes it after a day.
 */
export const serviceReplicas = pgTable("service_replicas", {
  /** `${hostname}:${port}` unless REPLICA_ID names it: stable across restarts, distinct for two on one host. */
  id: text("id").primaryKey(),
  role: serverRole("role").notNull(),
  host: text("host").notNull(),
  port: integer("port").notNull(),
  url: text("url"),
  pid: integer("pid").notNull(),
  version: text("version").notNull(),
  defaultDisk: text("default_disk"),
  driver: text("driver"),
  /** How often this replica beats: a reader counts it alive while it was seen within three of them. */
  heartbeatIntervalMs: integer("heartbeat_interval_ms").notNull(),
  startedAt: timestamp("started_at", { withTimezone: true, precision: 3 }).notNull(),
  lastSeenAt: timestamp("last_seen_at", { withTimezone: true, precision: 3 }).notNull(),
});

export type ServiceReplica = typeof serviceReplicas.$inferSelect;
