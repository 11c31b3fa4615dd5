import { setTimeout as sleep } from "node:timers/promises";
import { ERRORS, type Lock, type Locker, type RequestRelease } from "@tus/utils";
import type postgres from "postgres";

const RELEASE_CHANNEL = "depot_tus_release";
const POLL_MS = 25;
const ASK_AGAIN_MS = 1_000;

/**
 * @tus/server's Locker on PostgreSQL, shared by every storage replica: one session advisory lock per upload, held on
 * a connection reserved for the request. A request that finds the upload locked asks the holder to let go
 * (NOTIFY; the holder's process calls its requestRelease, which winds that request down as MemoryLocker does in one
 * process) and waits until the lock is free or its time is up. A replica that dies loses its connections, and
 * PostgreSQL frees its locks with them.
 */
export class PgLocker implements Locker {
  /** Uploads locked by this process, and how to ask each holder to let go. */
  readonly held = new Map<string, RequestRelease>();
  private listening: Promise<{ unlisten(): Promise<void> }> | undefined;

  constructor(
    readonly sql: postgres.Sql,
    readonly acquireTimeoutMs = 30_000,
  ) {}

  /** Starts listening for release requests from other replicas (and this one). */
  start(): Promise<unknown> {
    this.listening ??= this.sql.listen(RELEASE_CHANNEL, (id) => {
      void this.held.get(id)?.();
    });
    return this.listening;
  }

  newLock(id: string): Lock {
    return new PgLock(id, this);
  }

  async askRelease(id: string): Promise<void> {
    await this.sql`select pg_notify(${RELEASE_CHANNEL}, ${id})`;
  }

  async stop(): Promise<void> {
    const listening = this.listening;
    this.listening = undefined;
    await (await listening)?.unlisten().catch(() => {});
  }
}

class PgLock implements Lock {
  private connection: postgres.ReservedSql | undefined;

  constructor(
    private readonly id: string,
    private readonly locker: PgLocker,
  ) {}

  private get key() {
    return `depot:tus:${this.id}`;
  }

  async lock(signal: AbortSignal, requestRelease: RequestRelease): Promise<void> {
    await this.locker.start();
    const connection = await this.locker.sql.reserve();
    const deadline = Date.now() + this.locker.acquireTimeoutMs;
    let askedAt = 0;
    try {
      for (;;) {
        const [row] = await connection<{ ok: boolean }[]>`
          select pg_try_advisory_lock(hashtextextended(${this.key}, 0)) as ok`;
        if (row?.ok) {
          this.connection = connection;
          this.locker.held.set(this.id, requestRelease);
          return;
        }
        if (signal.aborted || Date.now() > deadline) throw ERRORS.ERR_LOCK_TIMEOUT;
        if (Date.now() - askedAt > ASK_AGAIN_MS) {
          askedAt = Date.now();
          await this.locker.askRelease(this.id);
        }
        await sleep(POLL_MS);
      }
    } catch (error) {
      connection.release();
      throw error;
    }
  }

  async unlock(): Promise<void> {
    const connection = this.connection;
    if (!connection) throw new Error("Releasing an unlocked lock!");
    this.connection = undefined;
    this.locker.held.delete(this.id);
    try {
      await connection`select pg_advisory_unlock(hashtextextended(${this.key}, 0))`;
    } finally {
      connection.release();
    }
  }
}
