import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { promisify } from "node:util";

const run = promisify(execFile);

async function missingBinaries(binaries: readonly string[]): Promise<string[]> {
  const missing: string[] = [];
  for (const bin of binaries) await run("sh", ["-c", `command -v ${bin}`]).catch(() => missing.push(bin));
  return missing;
}

/**
 * Installs Debian packages when one of their binaries is missing, as CI installs chromium; where it cannot (not
 * root, no apt-get), a clear error naming the packages and the command.
 */
export async function ensureDebianPackages(o: {
  purpose: string;
  packages: readonly string[];
  binaries: readonly string[];
  log?: (line: string) => void;
}): Promise<void> {
  const missing = await missingBinaries(o.binaries);
  if (missing.length === 0) return;
  const command = `apt-get install --no-install-recommends ${o.packages.join(" ")}`;
  if (process.getuid?.() !== 0 || !existsSync("/usr/bin/apt-get")) {
    throw new Error(
      `${o.purpose} needs ${missing.join(", ")}, which is missing. ` +
        `Install the Debian packages ${o.packages.join(", ")} (as root: ${command}).`,
    );
  }
  (o.log ?? console.log)(`installing ${o.packages.join(" ")} (missing: ${missing.join(", ")})`);
  try {
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    await run("apt-get", ["update", "-qq"], { env, maxBuffer: 64 * 1024 * 1024 });
    await run("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...o.packages], {
      env,
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (error) {
    const detail = (error as { stderr?: string }).stderr?.trim().split("\n").slice(-3).join(" ") ?? "";
    throw new Error(`installing ${o.packages.join(", ")} failed (${command}): ${detail}`);
  }
  const still = await missingBinaries(o.binaries);
  if (still.length > 0)
    throw new Error(`after installing ${o.packages.join(", ")}, still missing: ${still.join(", ")}`);
}
