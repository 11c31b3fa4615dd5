/**
 * HAProxy (Debian's package) in front of Depot's tiers, as docs/deployment.md describes for production: one
 * frontend per tier on loopback, round robin per request (not per connection: Node's keep-alive pool would pin a
 * client to one replica), active health checks on the health routes, and a failed connection retried on another
 * replica. Nothing is retried once a request reached a server, so no upload body is sent twice.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { HEADER } from "@depot/contract";
import { ensureDebianPackages } from "./debian";
import { answers200, waitFor } from "./readiness";

export interface BalancedTier {
  tier: "web" | "storage";
  /** The frontend's port on 127.0.0.1. */
  port: number;
  servers: { name: string; port: number }[];
}

export interface RunningBalancer {
  config: string;
  pid(): number | undefined;
  stop(): Promise<void>;
}

/** Each tier's health route. Both need the internal key, so the config file is readable by its owner only. */
const HEALTH_PATH = { web: "/health", storage: "/internal/storage/health" } as const;

const BALANCER_ERRORS = [
  [502, "bad_gateway", "the server handling this request went away; send it again (a tus upload resumes)"],
  [503, "unavailable", "no server is available right now; try again shortly"],
  [504, "bad_gateway", "the server handling this request did not answer in time"],
] as const;

export function haproxyConfig(tiers: BalancedTier[], apiKey: string): string {
  const sections = tiers.map(
    (t) => `
frontend ${t.tier}
  bind 127.0.0.1:${t.port}
  default_backend ${t.tier}_replicas

backend ${t.tier}_replicas
  balance roundrobin
  option httpchk
  http-check send meth GET uri ${HEALTH_PATH[t.tier]} hdr ${HEADER.apiKey} ${apiKey}
  http-check expect status 200
${t.servers.map((s) => `  server ${s.name} 127.0.0.1:${s.port} check`).join("\n")}`,
  );
  return `# Written by scripts/haproxy.ts for this run.
global
  maxconn 4096

defaults
  mode http
  option forwardfor
  # A connection that failed is retried on another replica; a request a server already received is not.
  retries 2
  option redispatch 1
  retry-on conn-failure
  timeout connect 2s
  timeout http-request 60s
  # Uploads stream for as long as they take; each tier has its own idle timeout.
  timeout client 15m
  timeout server 15m
  # A replica is out after 3 failed checks 1 s apart, back after 2 good ones. A check may take 5 s: under load
  # storage's health (a real write, read and delete on every disk) is slow, and a replica marked down for being
  # busy leaves the tier with none.
  timeout check 5s
  default-server inter 1s fall 3 rise 2
  # The balancer's own answers in Depot's error shape, not HAProxy's HTML pages.
${BALANCER_ERRORS.map(([status, code, message]) => `  http-error status ${status} content-type application/json string '${JSON.stringify({ error: { code, message } })}'`).join("\n")}
${sections.join("\n")}
`;
}

export async function startBalancer(o: {
  dir: string;
  tiers: BalancedTier[];
  apiKey: string;
  log: (line: string) => void;
}): Promise<RunningBalancer> {
  await ensureDebianPackages({ purpose: "The balancer", packages: ["haproxy"], binaries: ["haproxy"], log: o.log });
  mkdirSync(o.dir, { recursive: true });
  const config = join(o.dir, "haproxy.cfg");
  writeFileSync(config, haproxyConfig(o.tiers, o.apiKey), { mode: 0o600 });
  const child: ChildProcess = spawn("haproxy", ["-f", config, "-db"], { stdio: ["ignore", "pipe", "pipe"] });
  const forward = (chunk: Buffer) => {
    for (const line of chunk.toString("utf8").split("\n")) if (line.trim()) o.log(`[haproxy] ${line}`);
  };
  child.stdout?.on("data", forward);
  child.stderr?.on("data", forward);
  const running = () => child.exitCode === null && child.signalCode === null;
  const stop = async () => {
    if (!running()) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    await exited;
  };
  // Ready when every frontend has a replica its checks found up, all within 30 s.
  const deadline = Date.now() + 30_000;
  try {
    for (const t of o.tiers) {
      const url = `http://127.0.0.1:${t.port}${HEALTH_PATH[t.tier]}`;
      await waitFor(
        `haproxy's ${t.tier} frontend on port ${t.port}`,
        answers200(url, { apiKey: o.apiKey }),
        child,
        deadline - Date.now(),
      );
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { config, pid: () => child.pid, stop };
}
