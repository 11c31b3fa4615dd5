import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { isAlive } from "@depot/db/embedded";

// What a folder and a process look like from outside: the evidence the two-server harness reports.

/** Everything below `dir` (files, folders, links): the web working folder must have none. */
export const countEntries = (dir: string) => readdirSync(dir, { recursive: true }).length;

export function diskUsage(dir: string): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isDirectory()) continue;
    files++;
    bytes += lstatSync(join(entry.parentPath, entry.name)).size;
  }
  return { files, bytes };
}

/** Linux /proc: the folder a process really runs in and the role it was really given. */
export function observe(pid: number): { cwd?: string; role?: string } {
  try {
    const environ = readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");
    const role = environ.find((v) => v.startsWith("SERVER_ROLE="))?.slice("SERVER_ROLE=".length);
    return { cwd: readlinkSync(`/proc/${pid}/cwd`), role };
  } catch {
    return {};
  }
}

/** Parent and state of every process, from /proc (empty where there is no /proc). */
function processTable(): Map<number, { ppid: number; state: string }> {
  const table = new Map<number, { ppid: number; state: string }>();
  if (!existsSync("/proc")) return table;
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      // The command name may contain spaces and parentheses: the fields that follow start after the last ")".
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const [state, ppid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      table.set(Number(name), { ppid: Number(ppid), state: state ?? "" });
    } catch {
      // exited while we were looking
    }
  }
  return table;
}

export function descendants(pid: number): number[] {
  const table = processTable();
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const parent = queue.shift()!;
    for (const [child, info] of table) {
      if (info.ppid === parent) {
        found.push(child);
        queue.push(child);
      }
    }
  }
  return found;
}

export async function survivors(pids: number[], timeoutMs = 10_000): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  let alive = pids.filter(isAlive);
  while (alive.length > 0 && Date.now() < deadline) {
    await sleep(100);
    alive = alive.filter(isAlive);
  }
  return alive;
}
