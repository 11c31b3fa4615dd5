/**
 * `pnpm bench [--render] [bench:load options, e.g. --seconds 15]`: runs `pnpm bench:storage`, `bench:web`,
 * `bench:tus` and `bench:load` one after another, each writing bench/results/<name>.json, then renders every result
 * file there (bench:data's too, when it ran) as tables into bench/results/report.md and prints them. `--render`
 * only renders. Figures and ratios only: what they mean is written in docs/performance.md.
 */
import { spawn } from "node:child_process";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import {
  type BenchResult,
  figureTable,
  fixed,
  GiB,
  onCleanup,
  onExitRelease,
  REPO_ROOT,
  RESULTS_DIR,
  runBenchmark,
  withTimeout,
} from "./lib";

const SCRIPTS = ["bench:storage", "bench:web", "bench:tus", "bench:load"];
const BENCH_TIMEOUT_MS = 45 * 60_000;

/** `pnpm <script>` in its own process group, so that an interrupt reaches everything it started. */
async function runScript(script: string, args: string[]): Promise<void> {
  console.log(`\n=== pnpm ${script} ${args.join(" ")}`);
  const child = spawn("pnpm", ["run", "--silent", script, ...args], {
    cwd: REPO_ROOT,
    stdio: ["ignore", "inherit", "inherit"],
    detached: true,
  });
  const group = child.pid;
  if (group === undefined) throw new Error(`pnpm ${script} did not start`);
  const closed = new Promise<number | string>((settle) => {
    child.once("close", (code, signal) => settle(code ?? signal ?? "unknown"));
    child.once("error", (error) => settle(`spawn failed: ${error.message}`));
  });
  const alive = () => {
    try {
      process.kill(-group, 0);
      return true;
    } catch {
      return false;
    }
  };
  // Interrupted: the benchmark gets SIGINT and time to clean up after itself, then the group is killed.
  onCleanup(`pnpm ${script}`, async () => {
    if (!alive()) return;
    process.kill(-group, "SIGINT");
    for (let waited = 0; waited < 90_000 && alive(); waited += 250) await sleep(250);
    if (alive()) process.kill(-group, "SIGKILL");
  });
  onExitRelease(() => alive() && process.kill(-group, "SIGKILL"));
  const outcome = await withTimeout(closed, BENCH_TIMEOUT_MS, `pnpm ${script}`);
  if (outcome !== 0) throw new Error(`pnpm ${script} exited with ${outcome}`);
}

function section(result: BenchResult): string {
  const m = result.machine;
  const load = (l: number[]) => l.map((v) => fixed(v, 1)).join(" / ");
  return [
    `## ${result.benchmark} (${result.startedAt}, ${fixed(result.durationMs / 60_000, 1)} min)`,
    "",
    `${m.cpu}, ${m.cores} cores, ${fixed(m.memoryBytes / GiB, 1)} GiB, Node ${m.node}; load average ` +
      `${load(m.load)} at the start, ${load(m.loadAtEnd)} at the end` +
      (result.options ? `; options ${JSON.stringify(result.options)}` : ""),
    "",
    figureTable(result.figures),
  ].join("\n");
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (!args.includes("--render"))
    for (const script of SCRIPTS) await runScript(script, script === "bench:load" ? args : []);
  const names = (await readdir(RESULTS_DIR).catch(() => [])).filter((name) => name.endsWith(".json")).sort();
  const results = await Promise.all(
    names.map(async (name) => JSON.parse(await readFile(join(RESULTS_DIR, name), "utf8")) as BenchResult),
  );
  const report = `# Benchmark figures (MB = 10^6 bytes)\n\n${results.map(section).join("\n\n")}\n`;
  await writeFile(join(RESULTS_DIR, "report.md"), report);
  console.log(`\n${report}\nwritten to ${join(RESULTS_DIR, "report.md")}`);
}

runBenchmark("benchmark report", main);
