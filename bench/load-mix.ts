/** What bench/load.ts and its worker processes (bench/load-worker.ts) agree on: the mix, the job and the result. */

export const KiB = 1024;
const MiB = 1024 ** 2;

/** Size and how many of every 100 uploads have it: many tiny files, some medium, a few large. */
export const MIX: readonly { bytes: number; per100: number }[] = [
  { bytes: KiB, per100: 60 },
  { bytes: MiB, per100: 14 },
  { bytes: 4 * MiB, per100: 10 },
  { bytes: 16 * MiB, per100: 8 },
  { bytes: 64 * MiB, per100: 6 },
  { bytes: 256 * MiB, per100: 2 },
];
export const TUS_PAUSE_BYTES = 64 * MiB;
export const TUS_CHUNK_BYTES = 8 * MiB;
/** Payload variants per worker (different offsets into the payload), so files of one size differ. */
export const VARIANTS = 2;

export interface LoadJob {
  webUrl: string;
  cohortId: string;
  worker: number;
  concurrency: number;
  /** Epoch milliseconds: the first upload starts at startAt; none starts after stopAt. */
  startAt: number;
  stopAt: number;
  budgetBytes: number;
  tusPauses: number;
}

export interface Failure {
  bytes: number;
  route: "web" | "tus";
  status: number;
  error: string;
}

export interface LoadResult {
  worker: number;
  completed: number;
  failed: number;
  failures: Failure[];
  bytesCompleted: number;
  /** Epoch ms of the last answer. */
  lastEndAt: number;
  /** Latency of every completed 1 KiB upload, in ms. */
  smallLatenciesMs: number[];
  /** Multipart uploads through the web by size; the paused tus uploads are counted under `tus`. */
  bySize: Record<string, { completed: number; failed: number }>;
  tus: { attempted: number; resumed: number; completed: number; retries: number; refusals: string[] };
  budgetReached: boolean;
}
