import type { ChildProcess } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { HEADER } from "@depot/contract";

/** Polls `check` until it holds; fails when `child` exits first or the time is up. */
export async function waitFor(what: string, check: () => Promise<boolean>, child: ChildProcess, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${what} exited (${child.exitCode ?? child.signalCode}) before it was ready`);
    }
    if (await check().catch(() => false)) return;
    await sleep(250);
  }
  throw new Error(`${what} was not ready within ${timeoutMs / 1000} s`);
}

/** A readiness check: `url` answers 200 within `timeoutMs`. */
export const answers200 =
  (url: string, options: { apiKey?: string; timeoutMs?: number } = {}) =>
  async () => {
    const res = await fetch(url, {
      headers: options.apiKey ? { [HEADER.apiKey]: options.apiKey } : {},
      signal: AbortSignal.timeout(options.timeoutMs ?? 5_000),
    });
    await res.arrayBuffer();
    return res.status === 200;
  };

/** Storage answers its health check with the key. */
export const storageIsHealthy = (servicesUrl: string, apiKey: string) =>
  answers200(`${servicesUrl}/internal/storage/health`, { apiKey });

/** The web serves its login page. */
export const webIsUp = (webUrl: string) => answers200(`${webUrl}/login`, { timeoutMs: 10_000 });
