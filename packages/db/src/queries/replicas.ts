import { and, eq, sql } from "drizzle-orm";
import type { Queryable } from "../client";
import { type ServerRole, scheduledJobRuns, serviceReplicas } from "../schema";

export interface ScheduledRunClaim {
  /** True when this replica won the run: it runs the job now, and no other replica does until `intervalMs` passed. */
  claimed: boolean;
  /** When the job's current run (this one when claimed, else the other replica's) started, by the database's clock. */
  startedAt: Date;
  /** The replica that claimed the current run. */
  replica: string;
}

/**
 * Claims this interval's run of `job` for `replica`: one statement that inserts the job's row, or moves its
 * last_started_at to now() only if the last run started at least `intervalMs` ago. PostgreSQL's row lock makes
 * concurrent claims queue on the row and re-check the condition, so exactly one replica wins each interval. The
 * database's clock decides, so the replicas' clocks need not agree.
 */
export async function claimScheduledRun(
  db: Queryable,
  input: { job: string; intervalMs: number; replica: string },
): Promise<ScheduledRunClaim> {
  const interval = `${Math.max(0, Math.floor(input.intervalMs))} milliseconds`;
  const [won] = await db
    .insert(scheduledJobRuns)
    .values({ job: input.job, lastStartedAt: sql`now()`, lastReplica: input.replica })
    .onConflictDoUpdate({
      target: scheduledJobRuns.job,
      set: { lastStartedAt: sql`now()`, lastReplica: input.replica, lastFinishedAt: null, lastOutcome: null },
      setWhere: sql`${scheduledJobRuns.lastStartedAt} <= now() - ${interval}::interval`,
    })
    .returning({ startedAt: scheduledJobRuns.lastStartedAt, replica: scheduledJobRuns.lastReplica });
  if (won) return { claimed: true, ...won };
  const [current] = await db
    .select({ startedAt: scheduledJobRuns.lastStartedAt, replica: scheduledJobRuns.lastReplica })
    .from(scheduledJobRuns)
    .where(eq(scheduledJobRuns.job, input.job));
  if (!current) throw new Error(`scheduled job ${input.job} has no row after its claim`);
  return { claimed: false, ...current };
}

/** Records how the run this replica claimed ended; a later claim by another replica is left alone. */
export async function finishScheduledRun(
  db: Queryable,
  input: { job: string; replica: string; startedAt: Date; outcome: string },
): Promise<void> {
  await db
    .update(scheduledJobRuns)
    .set({ lastFinishedAt: sql`now()`, lastOutcome: input.outcome })
    .where(
      and(
        eq(scheduledJobRuns.job, input.job),
        eq(scheduledJobRuns.lastReplica, input.replica),
        eq(scheduledJobRuns.lastStartedAt, input.startedAt),
      ),
    );
}

/** Every scheduled job's last run, by job name. */
export function scheduledJobRunsList(db: Queryable) {
  return db.select().from(scheduledJobRuns).orderBy(scheduledJobRuns.job);
}

export interface ReplicaHeartbeat {
  id: string;
  role: ServerRole;
  host: string;
  port: number;
  url?: string | null;
  pid: number;
  version: string;
  defaultDisk?: string | null;
  driver?: string | null;
  heartbeatIntervalMs: number;
  startedAt: Date;
}

/** Inserts or refreshes a replica's row; last_seen_at is the database's now(). */
export async function recordHeartbeat(db: Queryable, replica: ReplicaHeartbeat): Promise<void> {
  const row = {
    ...replica,
    url: replica.url ?? null,
    defaultDisk: replica.defaultDisk ?? null,
    driver: replica.driver ?? null,
  };
  await db
    .insert(serviceReplicas)
    .values({ ...row, lastSeenAt: sql`now()` })
    .onConflictDoUpdate({ target: serviceReplicas.id, set: { ...row, lastSeenAt: sql`now()` } });
}

/** A clean shutdown's last word: the replica's row goes. */
export async function removeReplica(db: Queryable, id: string): Promise<void> {
  await db.delete(serviceReplicas).where(eq(serviceReplicas.id, id));
}

/** Removes the rows of replicas not seen for `olderThanMs` (processes that died and never came back). */
export async function pruneReplicas(db: Queryable, olderThanMs: number): Promise<number> {
  const gone = await db
    .delete(serviceReplicas)
    .where(sql`${serviceReplicas.lastSeenAt} < now() - ${`${Math.floor(olderThanMs)} milliseconds`}::interval`)
    .returning({ id: serviceReplicas.id });
  return gone.length;
}

/** How many heartbeat intervals a replica may miss before it is called stale. */
export const HEARTBEATS_MISSED_BEFORE_STALE = 3;

export interface ReplicaStatus {
  id: string;
  role: ServerRole;
  host: string;
  port: number;
  url: string | null;
  pid: number;
  version: string;
  defaultDisk: string | null;
  driver: string | null;
  heartbeatIntervalMs: number;
  startedAt: string;
  lastSeenAt: string;
  /** Milliseconds since the last heartbeat, by the database's clock. */
  lastSeenAgoMs: number;
  /** Seen within HEARTBEATS_MISSED_BEFORE_STALE of its own heartbeat intervals. */
  alive: boolean;
}

/** Every replica (of `role`, when given) with its heartbeat's age and whether it is alive; oldest first. */
export async function listReplicas(db: Queryable, input: { role?: ServerRole } = {}): Promise<ReplicaStatus[]> {
  const rows = await db
    .select({
      replica: serviceReplicas,
      lastSeenAgoMs: sql<number>`(extract(epoch from (now() - ${serviceReplicas.lastSeenAt})) * 1000)::float8`,
    })
    .from(serviceReplicas)
    .where(input.role ? eq(serviceReplicas.role, input.role) : undefined)
    .orderBy(serviceReplicas.startedAt, serviceReplicas.id);
  return rows.map(({ replica, lastSeenAgoMs }) => {
    const ago = Math.max(0, Math.round(Number(lastSeenAgoMs)));
    return {
      ...replica,
      startedAt: replica.startedAt.toISOString(),
      lastSeenAt: replica.lastSeenAt.toISOString(),
      lastSeenAgoMs: ago,
      alive: ago <= replica.heartbeatIntervalMs * HEARTBEATS_MISSED_BEFORE_STALE,
    };
  });
}
