import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

/** The user's config folder: $DEPOT_CONFIG_DIR, else $XDG_CONFIG_HOME/depot, %APPDATA%\depot or ~/.config/depot. */
export function configDir(env = process.env): string {
  if (env.DEPOT_CONFIG_DIR) return env.DEPOT_CONFIG_DIR;
  if (env.XDG_CONFIG_HOME) return join(env.XDG_CONFIG_HOME, "depot");
  if (process.platform === "win32" && env.APPDATA) return join(env.APPDATA, "depot");
  return join(homedir(), ".config", "depot");
}

/** Where resumable uploads are remembered (upload URLs only, never file bytes): $XDG_STATE_HOME/depot or ~/.local/state/depot. */
export function stateDir(env = process.env): string {
  if (env.DEPOT_STATE_DIR) return env.DEPOT_STATE_DIR;
  if (env.XDG_STATE_HOME) return join(env.XDG_STATE_HOME, "depot");
  if (process.platform === "win32" && env.LOCALAPPDATA) return join(env.LOCALAPPDATA, "depot");
  return join(homedir(), ".local", "state", "depot");
}

export interface StoredConfig {
  url?: string;
  token?: string;
}

const configFile = () => join(configDir(), "config.json");

export function readConfig(): StoredConfig {
  const file = configFile();
  if (!existsSync(file)) return {};
  try {
    return JSON.parse(readFileSync(file, "utf8")) as StoredConfig;
  } catch {
    throw new CliError("config", `${file} is not valid JSON: fix or remove it, then run depot login again`);
  }
}

/** Writes a private file atomically: folder 0700, file 0600, replaced by rename so no reader sees half of it. */
export function writePrivateFile(dir: string, name: string, content: string): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, name);
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, content, { mode: 0o600 });
  chmodSync(temp, 0o600);
  renameSync(temp, file);
  return file;
}

export function writeConfig(config: StoredConfig): string {
  return writePrivateFile(configDir(), "config.json", `${JSON.stringify(config, null, 2)}\n`);
}

export function removeConfig(): boolean {
  const file = configFile();
  if (!existsSync(file)) return false;
  rmSync(file);
  return true;
}

export interface Credentials {
  url: string;
  token: string;
  source: "DEPOT_TOKEN" | "config";
}

/** DEPOT_TOKEN and DEPOT_URL win over the stored login, so cron jobs need no config file. */
export function credentials(overrideUrl?: string): Credentials {
  const stored = readConfig();
  const url = (overrideUrl ?? process.env.DEPOT_URL ?? stored.url)?.replace(/\/+$/, "");
  const token = process.env.DEPOT_TOKEN || stored.token;
  if (!url)
    throw new CliError(
      "not_logged_in",
      "no Depot address: run `depot login --url https://depot.example.org` or set DEPOT_URL",
    );
  if (!token) throw new CliError("not_logged_in", "no token: run `depot login` or set DEPOT_TOKEN");
  return { url, token, source: process.env.DEPOT_TOKEN ? "DEPOT_TOKEN" : "config" };
}

/** Exit codes: 1 failure, 2 usage, 3 the token was refused, 4 a checksum or size did not match. */
export const EXIT = { failure: 1, usage: 2, auth: 3, mismatch: 4 } as const;

export class CliError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly exitCode: number = code === "unauthorized" ? EXIT.auth : EXIT.failure,
  ) {
    super(message);
  }
}
