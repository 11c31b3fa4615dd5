/**
 * `pnpm bench [--render] [bench:load options, e.g. --seconds 15]`: runs bench/storage.ts, web.ts, tus.ts and
 * load.ts (`pnpm bench:storage`, …) one after another, each writing bench/results/<name>.json, then renders every result
 * file there (bench:data's too, when it ran) as tables into bench/results/report.md and prints them. `--render`
 * only renders. Figures and ratios only: what they mean is written in docs/performance.md.
 */
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type BenchResult, type Figure, GiB, RESULTS_DIR, runBenchmark, startChild } from "./lib";

const BENCHMARKS = ["storage", "web", "tus", "load"];
const BENCH_TIMEOUT_MS = 45 * 60_000;

/** One benchmark as its own process; on an interrupt it gets time to clean up after itself. */
async function runScript(name: string, args: string[]): Promise<void> {
  console.log(`\n=== bench/${name}.ts ${args.join(" ")}`);
  const script = `bench/${name}.ts`;
  const options = { stdout: "inherit", stopWaitMs: 90_000, timeoutMs: BENCH_TIMEOUT_MS } as const;
  const child = startChild(script, [script, ...args], process.env, options);
  const outcome = await child.closed;
  if (outcome !== 0) throw new Error(`${script} ended: ${outcome}: ${child.outputTail()}`);
}

function table(figures: Figure[]): string {
  const n = (v: number | null | undefined, unit = "") =>
    v === null || v === undefined ? "-" : v.toFixed(unit !== "count" && (unit === "s" || Math.abs(v) < 10) ? 2 : 0);
  const row = (f: Figure) => [
    f.figure,
    `${n(f.value, f.unit)} ${f.unit}`,
    f.baseline ? `${n(f.baseline.value, f.unit)} ${f.unit}: ${f.baseline.label}` : "",
    n(f.ratio),
    f.goal ? `${f.goal}: ${f.met ? "met" : "**not met**"}` : "",
  ];
  return [
    "| figure | Depot | baseline (same run) | ratio | goal |",
    "| --- | ---: | --- | ---: | --- |",
    ...figures.map((f) => `| ${row(f).join(" | ")} |`),
  ].join("\n");
}

function section(result: BenchResult): string {
  const m = result.machine;
  const load = (l: number[]) => l.map((v) => v.toFixed(1)).join(" / ");
  return [
    `## ${result.benchmark} (${result.startedAt}, ${(result.durationMs / 60_000).toFixed(1)} min)`,
    "",
    `${m.cpu}, ${m.cores} cores, ${(m.memoryBytes / GiB).toFixed(1)} GiB, Node ${m.node}; load average ` +
      `${load(m.load)} at the start, ${load(m.loadAtEnd)} at the end` +
      (result.options ? `; options ${JSON.stringify(result.options)}` : ""),
    "",
    table(result.figures),
  ].join("\n");
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (!args.includes("--render")) for (const name of BENCHMARKS) await runScript(name, name === "load" ? args : []);
  const names = (await readdir(RESULTS_DIR).catch(() => [])).filter((name) => name.endsWith(".json")).sort();
  const results = await Promise.all(
    names.map(async (name) => JSON.parse(await readFile(join(RESULTS_DIR, name), "utf8")) as BenchResult),
  );
  const report = `# Benchmark figures (MB = 10^6 bytes)\n\n${results.map(section).join("\n\n")}\n`;
  await writeFile(join(RESULTS_DIR, "report.md"), report);
  console.log(`\n${report}\nwritten to ${join(RESULTS_DIR, "report.md")}`);
}

runBenchmark("benchmark report", main);
