import { formatBytes } from "@depot/contract/bytes";
import cliProgress from "cli-progress";

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

export interface Progress {
  update(done: number): void;
  note(line: string): void;
  stop(): void;
}

/**
 * A progress bar with speed and ETA on a terminal; plain lines on stderr otherwise (every 5 %, and at most
 * one per 2 s in between), so cron mails and CI logs stay readable. Speed counts only this run's bytes.
 */
export function progress(label: string, total: number, startAt = 0): Progress {
  const started = Date.now();
  const speed = (done: number) => (done - startAt) / Math.max((Date.now() - started) / 1000, 0.001);
  const eta = (done: number) => (total - done) / Math.max(speed(done), 1);
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        format: `${label} [{bar}] {percentage}% | {doneH}/{totalH} | {speedH}/s | ETA {etaH}`,
        hideCursor: true,
        stream: process.stderr,
        clearOnComplete: false,
      },
      cliProgress.Presets.shades_classic,
    );
    const payload = (done: number) => ({
      doneH: formatBytes(done),
      totalH: formatBytes(total),
      speedH: formatBytes(speed(done)),
      etaH: formatDuration(eta(done)),
    });
    bar.start(Math.max(total, 1), startAt, payload(startAt));
    return {
      update: (done) => bar.update(done, payload(done)),
      note: (line) => {
        process.stderr.write(`\r\u001b[2K${line}\n`);
        bar.render();
      },
      stop: () => bar.stop(),
    };
  }
  let lastStep = -1;
  let lastAt = 0;
  const line = (done: number) =>
    `${label} ${total ? Math.floor((done / total) * 100) : 100}% ${done}/${total} bytes (${formatBytes(done)}) ` +
    `${formatBytes(speed(done))}/s ETA ${formatDuration(eta(done))}`;
  return {
    update(done) {
      const step = total ? Math.floor((done / total) * 20) : 20;
      if (step === lastStep && Date.now() - lastAt < 2000) return;
      lastStep = step;
      lastAt = Date.now();
      process.stderr.write(`${line(done)}\n`);
    },
    note: (text) => process.stderr.write(`${text}\n`),
    stop: () => {},
  };
}
