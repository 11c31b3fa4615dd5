import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { expect } from "vitest";
import type { FaultStack } from "../faults/harness";
import type { RawResponse } from "./raw";

/** What a response looked like, in a few words for the report. */
export function describeAnswer(status: number | null, body: string, extra = ""): string {
  if (status === null) return extra || "no answer";
  let code = "";
  try {
    const parsed = JSON.parse(body) as { error?: { code?: string; message?: string } };
    if (parsed.error?.code) code = ` ${parsed.error.code}: "${parsed.error.message?.slice(0, 90)}"`;
  } catch {
    if (body.trim()) code = ` (${body.trim().slice(0, 40).replace(/\s+/g, " ")}${body.trim().length > 40 ? "…" : ""})`;
  }
  return `${status}${code}${extra ? ` ${extra}` : ""}`;
}

export const describeRaw = (res: RawResponse) =>
  res.status === null
    ? `no answer; connection ${res.closed ? `closed after ${(res.ms / 1000).toFixed(1)} s` : "still open"}${res.error ? ` (${res.error})` : ""}`
    : describeAnswer(res.status, res.body);

/** Nothing in an answer that tells an attacker how Depot is built or what its secrets are. */
export function expectNoLeak(stack: FaultStack, text: string) {
  const secrets = [stack.apiKey, stack.authSecret, stack.root, stack.storageRoot, stack.databaseUrl];
  for (const secret of secrets) expect(text.includes(secret), "the answer contains a secret or a path").toBe(false);
  const leaks: [string, RegExp][] = [
    ["a stack trace", /\n\s+at\s+\S+\s+\(|\bat\s+\S+\s\(\/|\.(ts|js|mjs):\d+:\d+/],
    ["an internal path", /\/(work|home|tmp|usr|var|etc)\/|node_modules/],
    ["SQL or driver detail", /postgres|syntax error|ECONNREFUSED|relation "/i],
  ];
  for (const [what, pattern] of leaks) {
    const match = pattern.exec(text);
    expect(match ? text.slice(Math.max(0, match.index - 60), match.index + 60) : null, `no ${what}`).toBeNull();
  }
}

/** The one error shape with the expected status (and code, when given). */
export function expectJsonError(
  stack: FaultStack,
  res: { status: number | null; body: string; headers?: Record<string, string> | Headers },
  status: number,
  code?: string,
) {
  expect(res.status, `status ${res.status}, body ${res.body.slice(0, 200)}`).toBe(status);
  const contentType =
    res.headers instanceof Headers ? res.headers.get("content-type") : (res.headers?.["content-type"] ?? null);
  if (contentType !== null) expect(contentType).toMatch(/application\/json/);
  const parsed = JSON.parse(res.body) as Record<string, unknown>;
  expect(Object.keys(parsed)).toEqual(["error"]);
  const error = parsed.error as { code: unknown; message: unknown };
  expect(typeof error.code).toBe("string");
  expect(typeof error.message).toBe("string");
  expect((error.message as string).length).toBeGreaterThan(0);
  if (code) expect(error.code).toBe(code);
  expectNoLeak(stack, res.body);
  return error as { code: string; message: string };
}

/** A protocol-level refusal (Node's parser): this status, and no leak in whatever came back. */
export function expectProtocolRefusal(stack: FaultStack, res: RawResponse, status: number) {
  expect(res.status, describeRaw(res)).toBe(status);
  expectNoLeak(stack, res.raw);
}

function walk(dir: string, root: string, out: string[]) {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of entries) {
    const path = join(dir, name);
    const info = statSync(path, { throwIfNoEntry: false });
    if (info?.isDirectory()) walk(path, root, out);
    else if (info) out.push(relative(root, path));
  }
}

export interface Snapshot {
  stored: Set<string>;
  objects: Set<string>;
  outside: Set<string>;
}

/** Stored files rows, every object (and partial) under the storage root, and what lies next to the root. */
export async function snapshot(stack: FaultStack): Promise<Snapshot> {
  const rows = await stack.sql<{ id: string }[]>`select id::text from files where status = 'stored'`;
  const objects: string[] = [];
  walk(stack.storageRoot, stack.storageRoot, objects);
  const outside: string[] = [];
  walk(join(stack.storageRoot, ".."), join(stack.storageRoot, ".."), outside);
  return {
    stored: new Set(rows.map((r) => r.id)),
    objects: new Set(objects),
    outside: new Set(
      outside.filter(
        (p) => !p.startsWith("storage/") && !join(stack.storageRoot, "..", p).startsWith(`${stack.postgresDir}/`),
      ),
    ),
  };
}

const added = (before: Set<string>, after: Set<string>) => [...after].filter((x) => !before.has(x));

/**
 * Nothing new was stored since `before`: no new stored row, no new object or partial under the root, nothing
 * new beside it. Partials are removed when the servers notice a broken stream, so this waits a little.
 */
export async function expectNothingStored(stack: FaultStack, before: Snapshot, timeoutMs = 8_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const now = await snapshot(stack);
    const news = {
      stored: added(before.stored, now.stored),
      objects: added(before.objects, now.objects),
      outside: added(before.outside, now.outside),
    };
    if (news.stored.length + news.objects.length + news.outside.length === 0) return;
    if (Date.now() > deadline) {
      expect(news, "nothing new was stored").toEqual({ stored: [], objects: [], outside: [] });
      return;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}
